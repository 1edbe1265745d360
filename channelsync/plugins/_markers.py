"""The project name, the entry-point group and the pluggy markers."""

from __future__ import annotations

import pluggy

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name: every hook specification and implementation uses it.
PROJECT_NAME = "channelsync"
#: The entry-point group a plugin distribution declares its plugin module under.
ENTRY_POINT_GROUP = "channelsync"

#: Marks a function in :mod:`channelsync.plugins.hookspecs` as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin function as the implementation of a ``channelsync_*`` hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
