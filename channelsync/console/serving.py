"""The console of a running daemon: its source, its app and its server, built in one place."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING

from channelsync.console.settings import ConsoleAddress, ConsoleSettings
from channelsync.daemon.runner import Daemon
from channelsync.errors import ConfigurationError

if TYPE_CHECKING:
    from channelsync.console.server import ConsoleServer

__all__ = ["bind_console", "console_secret", "require_console_extra", "serve_daemon"]

_NEEDED = ("starlette", "jinja2", "uvicorn")


def require_console_extra() -> None:
    """Raise :class:`ConfigurationError` naming the extra when the web stack is missing."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"the console needs {', '.join(missing)}, which come with the optional extra "
            "'console': pip install 'channelsync[console]'",
            field="console",
        )


def console_secret(settings: ConsoleSettings, environ: Mapping[str, str] | None = None) -> str:
    """Return the console token, or an empty string (for the log's list of values to scrub)."""
    return settings.token(environ) or ""


def bind_console(
    settings: ConsoleSettings,
    address: ConsoleAddress,
    *,
    environ: Mapping[str, str] | None = None,
) -> ConsoleServer:
    """Check the console can run on ``address`` and bind it, before the daemon starts.

    Raises :class:`~channelsync.errors.ConfigurationError` when the web stack is
    missing, when the address is beyond loopback without a token, or when it is in use.
    """
    require_console_extra()
    from channelsync.console.server import ConsoleServer  # noqa: PLC0415 - the optional web stack

    settings.check_exposure(address, settings.token(environ))
    server = ConsoleServer(address)
    server.bind()
    return server


def serve_daemon(
    server: ConsoleServer,
    daemon: Daemon,
    settings: ConsoleSettings,
    *,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Make ``server`` serve the console of ``daemon``: its store, channels and status."""
    from channelsync.console.app import build_app  # noqa: PLC0415 - the optional web stack
    from channelsync.console.source import ConsoleSource, DaemonView  # noqa: PLC0415

    engine = daemon.engine
    view = DaemonView(
        status=daemon.status,
        started=daemon.clock.now(),
        wake=daemon.wake,
        refresh_paused=daemon.refresh_paused,
    )
    source = ConsoleSource(
        engine.store,
        {name: channel.type_name for name, channel in engine.channels.items()},
        clock=daemon.clock,
        daemon=view,
        settings={name: info.settings for name, info in engine.context.channels.items()},
    )
    server.app = build_app(
        source, token=settings.token(environ), refresh_seconds=settings.refresh_seconds
    )
