"""``channelsync plugins``: what is installed, what it provides, and what failed to load."""

from __future__ import annotations

import sys
from typing import Any

import click

from channelsync.channels import Capability
from channelsync.cli._common import ExitCode, echo_json, reports_errors
from channelsync.plugins import PluginHost, build_plugin_manager


def describe_plugins(host: PluginHost) -> dict[str, Any]:
    """Return the installed plugins, their channel types and failures as plain data."""
    plugins = []
    for info in host.plugins:
        types = []
        for type_name in info.channel_types:
            channel_cls = host.registry.get(type_name)
            caps = channel_cls.capabilities()
            types.append(
                {
                    "type": type_name,
                    "name": channel_cls.display_name,
                    "capabilities": sorted(c.value for c in caps),
                    "not_implemented": sorted(c.value for c in Capability if c not in caps),
                    "note": channel_cls.status_note,
                    "credentials": list(channel_cls.credential_fields),
                    "optional_credentials": list(channel_cls.optional_credential_fields),
                }
            )
        plugins.append(
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "channel_types": types,
            }
        )
    failures = [
        {
            "name": f.name,
            "distribution": f.distribution,
            "version": f.version,
            "reason": f.reason,
        }
        for f in host.failures
    ]
    return {"plugins": plugins, "failures": failures}


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def plugins_command(as_json: bool) -> None:
    """List installed plugins, their channel types and capabilities, and load failures.

    Exits 1 when a plugin failed to load (each failure is named with its reason).
    """
    data = describe_plugins(build_plugin_manager())
    if as_json:
        echo_json(data)
        if data["failures"]:
            sys.exit(ExitCode.FAILURE)
        return
    for plugin in data["plugins"]:
        origin = "built-in" if plugin["builtin"] else plugin["distribution"] or "?"
        click.echo(f"{plugin['name']} ({origin} {plugin['version'] or ''})".rstrip())
        for ct in plugin["channel_types"]:
            caps = ", ".join(ct["capabilities"]) or "none"
            click.echo(f"  channel type {ct['type']!r}: {ct['name']}")
            click.echo(f"    capabilities: {caps}")
            if ct["note"]:
                click.echo(f"    note: {ct['note']}")
            creds = ", ".join(
                ct["credentials"] + [f"{c} (optional)" for c in ct["optional_credentials"]]
            )
            click.echo(f"    credentials: {creds or 'none'}")
    for failure in data["failures"]:
        click.echo(
            f"FAILED {failure['name']} ({failure['distribution'] or '?'} "
            f"{failure['version'] or ''}): {failure['reason']}".replace("  ", " "),
            err=True,
        )
    if data["failures"]:
        sys.exit(ExitCode.FAILURE)
