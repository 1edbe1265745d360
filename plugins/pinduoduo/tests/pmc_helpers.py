"""Helpers for the PMC tests: short timers, waiting for a condition, a consuming task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from channelsync_pinduoduo.pmc import PmcTimers

from channelsync.channels.events import ChannelEvent, EventListener

#: The client's timers, shortened so that heartbeats and liveness checks happen in
#: milliseconds; liveness stays at PMC's 3 minutes, read on the fake clock.
FAST = PmcTimers(heartbeat=0.02, liveness=180.0, check=0.02, open_timeout=5.0)

#: The longest any single wait in these tests may take.
WAIT = 5.0


async def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait (in short real steps) until ``condition`` holds; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Consumer:
    """Iterates a listener in a task, collecting what it yields."""

    def __init__(self, listener: EventListener) -> None:
        self.listener = listener
        self.events: list[ChannelEvent] = []
        self._iterator: AsyncIterator[ChannelEvent] = aiter(listener)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._iterator:
            self.events.append(event)

    async def take(self, count: int = 1) -> list[ChannelEvent]:
        """Wait until ``count`` more events arrived and return them."""
        start = len(self.events)
        await eventually(lambda: len(self.events) >= start + count, f"{count} event(s)")
        return self.events[start : start + count]

    async def stop(self) -> None:
        """Close the listener and end the task."""
        await self.listener.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
