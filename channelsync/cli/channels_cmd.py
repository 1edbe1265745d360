"""``channelsync channels``: the channels of a config, and what each still needs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from channelsync.cli._common import ExitCode, config_option, echo_json, read_config, reports_errors
from channelsync.config import Config, resolve_channel_type, resolve_settings
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.errors import ConfigurationError, CredentialError
from channelsync.plugins import PluginHost, build_plugin_manager


def describe_channels(
    config: Config, host: PluginHost, store: CredentialStore
) -> list[dict[str, Any]]:
    """Return, per configured channel, its type, settings problems and credential status."""
    rows = []
    for entry in config.channels:
        row: dict[str, Any] = {
            "name": entry.name,
            "type": entry.type,
            "problems": [],
            "notes": [],
            "credentials": {},
            "missing_credentials": [],
        }
        try:
            channel_cls = resolve_channel_type(config, entry, host.registry)
        except ConfigurationError as error:
            row["problems"].append(str(error))
            rows.append(row)
            continue
        try:
            resolve_settings(config, entry, channel_cls)
        except ConfigurationError as error:
            row["problems"].append(str(error))
        fields = channel_cls.all_credential_fields()
        try:
            status = store.status(entry.name, fields)
        except CredentialError as error:
            # No keyring here (a container, CI): still report what the environment holds;
            # it is a problem only when a required secret is then set nowhere.
            status = store.environment_status(entry.name, fields)
            unset = [f for f in channel_cls.credential_fields if status.get(f) is None]
            row["problems" if unset else "notes"].append(str(error))
        row["credentials"] = {f: (s.value if s else None) for f, s in status.items()}
        row["missing_credentials"] = [
            {"field": f, "env_var": env_var_name(entry.name, f)}
            for f in channel_cls.credential_fields
            if status.get(f) is None
        ]
        rows.append(row)
    return rows


@click.command("channels")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--check", is_flag=True, help="Exit 1 when any channel has a problem or a missing credential."
)
@reports_errors
def channels_command(config_path: Path | None, as_json: bool, check: bool) -> None:
    """List the configured channels and the credentials each is missing."""
    config = read_config(config_path)
    rows = describe_channels(config, build_plugin_manager(), CredentialStore())
    if as_json:
        echo_json({"config": str(config.path), "channels": rows})
    else:
        if not rows:
            click.echo(f"{config.path}: no channels configured")
        for row in rows:
            ready = not row["problems"] and not row["missing_credentials"]
            click.echo(f"{row['name']} ({row['type']}): {'ready' if ready else 'NOT READY'}")
            for problem in row["problems"]:
                click.echo(f"  problem: {problem}")
            for note in row["notes"]:
                click.echo(f"  note: {note}")
            for field, source in row["credentials"].items():
                click.echo(f"  credential {field}: {source or 'not set'}")
            for missing in row["missing_credentials"]:
                click.echo(
                    f"  set {missing['field']} with `channelsync credentials set "
                    f"{row['name']} {missing['field']}` or ${missing['env_var']}"
                )
    if check and any(r["problems"] or r["missing_credentials"] for r in rows):
        sys.exit(ExitCode.FAILURE)
