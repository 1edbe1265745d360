"""Which of the daemon's channels an operator paused, and the gate their loops wait at.

The pauses live in the store (:mod:`channelsync.engine.pausing`). The daemon reads
them at start and at every look at the store; :meth:`PauseGate.apply` turns what it
read into each channel's status, one log line per change, and an event that each
paused channel's loops wait on before their next step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from channelsync.clock import Clock
from channelsync.daemon.logs import working_on
from channelsync.daemon.status import ChannelStatus
from channelsync.engine.pausing import Pause, paused_channels
from channelsync.store import Store

__all__ = ["PauseGate"]

logger = logging.getLogger(__name__)


class PauseGate:
    """The pauses of the daemon's channels, and a wait that returns once one is resumed."""

    def __init__(self, store: Store, statuses: Mapping[str, ChannelStatus], clock: Clock) -> None:
        self.store = store
        self.statuses = statuses
        self.clock = clock
        self.paused: dict[str, Pause] = {}
        """The paused channels among ``statuses``, as last applied."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The daemon's loop, once it runs: changes are applied in it."""
        self._resumed = {name: asyncio.Event() for name in statuses}
        for event in self._resumed.values():
            event.set()

    def read(self) -> dict[str, Pause]:
        """Return every pause in the store (channels of other daemons' too)."""
        with self.store.transaction() as session:
            return paused_channels(session)

    def refresh(self) -> dict[str, Pause]:
        """Read the pauses and apply them; return the paused channels among ours.

        Safe from another thread: the change is then applied in the daemon's loop.
        """
        found = self.read()
        loop = self.loop
        if loop is not None and loop.is_running() and not _in_loop(loop):
            loop.call_soon_threadsafe(self.apply, found)
        else:
            self.apply(found)
        return {name: pause for name, pause in found.items() if name in self._resumed}

    def apply(self, found: Mapping[str, Pause]) -> None:
        """Take ``found`` as the current pauses; log and show each change; run in the loop."""
        current = {name: pause for name, pause in found.items() if name in self._resumed}
        now = self.clock.now()
        for name, resumed in self._resumed.items():
            pause = current.get(name)
            if pause == self.paused.get(name):
                continue
            with working_on(name):
                if pause is None:
                    logger.info("resumed")
                    resumed.set()
                else:
                    logger.info("paused by %s: %s", pause.by, pause.reason)
                    resumed.clear()
            status = self.statuses[name]
            status.paused = pause is not None
            status.paused_reason = pause.reason if pause else None
            status.paused_by = pause.by if pause else None
            status.paused_since = pause.since if pause else None
            if pause is None:
                status.resumed_at = now
        self.paused = current

    async def until_resumed(self, name: str, stopping: asyncio.Event) -> None:
        """Return at once unless ``name`` is paused, else once it is resumed or ``stopping`` set."""
        resumed = self._resumed[name]
        if resumed.is_set() or stopping.is_set():
            return
        waits = [asyncio.ensure_future(resumed.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
