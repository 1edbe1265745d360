"""Timing helpers for the benchmarks: parts of a run, their spans, the event loop's stalls."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Split:
    """Seconds spent in each part of an ingest, summed over its calls."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def _record(self, part: str, started: float) -> None:
        self.seconds[part] += time.perf_counter() - started

    def timed(self, part: str, function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._record(part, started)

        return wrapper

    def timed_async(
        self, part: str, function: Callable[_P, Awaitable[_R]]
    ) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(function)
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self._record(part, started)

        return wrapper


class Spans(Split):
    """The wall span of each part of a cycle: from its first start to its last end.

    Channels are worked side by side, so a part's calls overlap; its span is what the
    cycle waited for it (in ``seconds``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}

    def _record(self, part: str, started: float) -> None:
        first = self.started[part] = min(self.started.get(part, started), started)
        self.seconds[part] = time.perf_counter() - first


class Stalls:
    """The event loop's longest stall while the block runs: how late a 10 ms tick woke.

    What any other step of the process (another channel's order pull, a worker's next
    job) would have waited at worst, behind work that held the loop.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self._asked = time.perf_counter()
        self._ticker: asyncio.Task[None] | None = None

    def _woke(self) -> None:
        self.longest = max(self.longest, time.perf_counter() - self._asked - 0.01)

    async def _tick(self) -> None:
        while True:
            self._asked = time.perf_counter()
            await asyncio.sleep(0.01)
            self._woke()

    async def __aenter__(self) -> Stalls:
        self._ticker = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # the first tick is asked for now
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._ticker is not None
        self._woke()  # a tick still waiting, late if the block held the loop to the end
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker


@contextlib.contextmanager
def patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Replace each ``(owner, name)`` with its patch while the block runs."""
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    for owner, name, patched in patches:
        setattr(owner, name, patched)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
