"""``channelsync channels``: the channels of a config, what each still needs, pause and resume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from channelsync.bootstrap import open_state
from channelsync.cli._common import ExitCode, config_option, echo_json, read_config, reports_errors
from channelsync.cli.engine_cmd import clock, reports_input_errors, runtime_config
from channelsync.cli.outbox_cmd import _who
from channelsync.config import Config, resolve_channel_type, resolve_settings
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.pausing import pause_channel, paused_channels, resume_channel
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


@click.group("channels", invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--check", is_flag=True, help="Exit 1 when any channel has a problem or a missing credential."
)
@click.pass_context
@reports_errors
def channels_command(
    context: click.Context, config_path: Path | None, as_json: bool, check: bool
) -> None:
    """List the configured channels and the credentials each is missing; pause or resume one."""
    if context.invoked_subcommand is not None:
        return
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


@channels_command.command("pause")
@click.argument("name")
@click.option("--reason", required=True, help="Why it is paused (kept in the audit trail).")
@config_option
@reports_errors
@reports_input_errors
def pause_command(name: str, reason: str, config_path: Path | None) -> None:
    """Pause channel NAME: the daemon makes no call to its marketplace until it is resumed.

    Kept in the store, so it holds across restarts; a running daemon applies it within
    seconds, after the step in flight. Changes for the channel wait in its outbox.
    """
    if not reason.strip():
        raise InputError("channels", [Problem("a reason is required", field="--reason")])
    config = _with_channel(config_path, name)
    with open_state(config) as store, store.transaction() as session:
        if not pause_channel(session, name, by=_who(), reason=reason, now=clock().now()):
            pause = paused_channels(session)[name]
            click.echo(
                f"{name} is already paused (by {pause.by} since {pause.since.isoformat()}: "
                f"{pause.reason})"
            )
            return
    click.echo(f"paused {name}: {reason}")


@channels_command.command("resume")
@click.argument("name")
@config_option
@reports_errors
@reports_input_errors
def resume_command(name: str, config_path: Path | None) -> None:
    """Resume channel NAME: the daemon picks up its work within seconds."""
    config = _with_channel(config_path, name)
    with open_state(config) as store, store.transaction() as session:
        resumed = resume_channel(session, name, by=_who(), now=clock().now())
    click.echo(f"resumed {name}" if resumed else f"{name} is not paused")


def _with_channel(config_path: Path | None, name: str) -> Config:
    """Load the config (no secret is read); refuse a channel name it does not have."""
    if config_path is None:
        # ``channels --config FILE pause NAME`` names the file before the subcommand.
        parent = click.get_current_context().parent
        config_path = parent.params.get("config_path") if parent is not None else None
    config = runtime_config(config_path)
    names = [entry.name for entry in config.channels]
    if name not in names:
        known = ", ".join(names) or "none"
        raise InputError(
            "channels", [Problem(f"no channel named {name!r} (configured: {known})", field="NAME")]
        )
    return config
