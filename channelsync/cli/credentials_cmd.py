"""``channelsync credentials``: set, list and delete a channel's secrets in the keyring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from channelsync.channels import Channel
from channelsync.cli._common import ExitCode, config_option, echo_json, read_config, reports_errors
from channelsync.config import resolve_channel_type
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.errors import ConfigurationError
from channelsync.plugins import build_plugin_manager


def _channel_type(config_path: Path | None, channel: str) -> type[Channel[Any]] | None:
    """Return the channel's plugin class when the config and plugin are known, else ``None``."""
    try:
        config = read_config(config_path)
        entry = config.channel(channel)
    except ConfigurationError:
        if config_path is not None:
            raise
        return None
    return resolve_channel_type(config, entry, build_plugin_manager().registry)


@click.group("credentials")
def credentials_group() -> None:
    """Manage channel secrets (kept in the system keyring, never in the config file).

    Environment variables CHANNELSYNC_<CHANNEL>_<FIELD> take precedence over the keyring.
    """


@credentials_group.command("set")
@click.argument("channel")
@click.argument("field")
@config_option
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the value from standard input instead of prompting (for scripts).",
)
@reports_errors
def set_command(channel: str, field: str, config_path: Path | None, from_stdin: bool) -> None:
    """Store FIELD of CHANNEL in the keyring, prompting without echo."""
    channel_cls = _channel_type(config_path, channel)
    if channel_cls is not None and field not in channel_cls.all_credential_fields():
        known = ", ".join(channel_cls.all_credential_fields())
        raise ConfigurationError(
            f"{channel_cls.type_name!r} channels have no credential {field!r} (known: {known})",
            channel=channel,
        )
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = click.prompt(f"{channel} {field}", hide_input=True, confirmation_prompt=True)
    if not value:
        raise ConfigurationError("an empty value cannot be stored", channel=channel, field=field)
    CredentialStore().set(channel, field, value)
    click.echo(f"stored {field} for channel {channel!r} in the keyring")


@credentials_group.command("list")
@click.argument("channel")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def list_command(channel: str, config_path: Path | None, as_json: bool) -> None:
    """Show which credential fields of CHANNEL are set, and where; never their values."""
    channel_cls = _channel_type(config_path, channel)
    if channel_cls is None:
        raise ConfigurationError(
            "is not in the configuration, so its credential fields are unknown; "
            "add it to channelsync.toml or pass --config",
            channel=channel,
        )
    store = CredentialStore()
    status = store.status(channel, channel_cls.all_credential_fields())
    required = set(channel_cls.credential_fields)
    rows = [
        {
            "field": field,
            "required": field in required,
            "source": source.value if source else None,
            "env_var": env_var_name(channel, field),
        }
        for field, source in status.items()
    ]
    if as_json:
        echo_json({"channel": channel, "credentials": rows})
        return
    for row in rows:
        kind = "required" if row["required"] else "optional"
        click.echo(f"{row['field']} ({kind}): {row['source'] or 'not set'}")
    if any(r["required"] and r["source"] is None for r in rows):
        sys.exit(ExitCode.FAILURE)


@credentials_group.command("delete")
@click.argument("channel")
@click.argument("field")
@config_option
@reports_errors
def delete_command(channel: str, field: str, config_path: Path | None) -> None:
    """Remove FIELD of CHANNEL from the keyring.

    With a configuration naming CHANNEL, FIELD must be one of its plugin's credentials.
    """
    channel_cls = _channel_type(config_path, channel)
    if channel_cls is not None and field not in channel_cls.all_credential_fields():
        known = ", ".join(channel_cls.all_credential_fields())
        raise ConfigurationError(
            f"{channel_cls.type_name!r} channels have no credential {field!r} (known: {known})",
            channel=channel,
        )
    if CredentialStore().delete(channel, field):
        click.echo(f"deleted {field} for channel {channel!r} from the keyring")
    else:
        click.echo(f"no {field} stored for channel {channel!r} in the keyring", err=True)
        sys.exit(ExitCode.FAILURE)
