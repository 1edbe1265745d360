"""The operator's web console: pages served by the daemon, reading the store.

Server-rendered pages (Starlette, Jinja2, on uvicorn in the daemon's event loop) with
live parts refreshed by htmx (vendored, see ``static/htmx-LICENSE.txt``). Reading needs
no channel's secret: every page reads the store, and the running daemon's own view of
its channels when there is one. Requests that change state (retry or drop a parked
entry, pause or resume a channel) need the console token and are audited.

The web stack is the optional ``console`` extra; :mod:`channelsync.console.settings`
needs none of it, so a configuration with a ``[console]`` table reads without it.
"""

from __future__ import annotations

from channelsync.console.settings import ConsoleAddress, ConsoleSettings, parse_address

__all__ = ["ConsoleAddress", "ConsoleSettings", "parse_address"]
