from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from channelsync_tmall import TmallChannel, TmallSettings
from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeTop, TmcServer, demo_fake

from channelsync.channels import ChannelEvent, EventListener
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.http import RetryPolicy

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
CHANNEL = "tmall-main"

MakeChannel = Callable[..., TmallChannel]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> FakeTop:
    return demo_fake(clock=clock)


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend({(CHANNEL, k): v for k, v in DEMO_CREDENTIALS.items()})


@pytest.fixture
def make_channel(fake: FakeTop, clock: FakeClock, backend: MemorySecretBackend) -> MakeChannel:
    def make(
        cls: type[TmallChannel] = TmallChannel,
        *,
        without: tuple[str, ...] = (),
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: object,
    ) -> TmallChannel:
        for field in without:
            backend.delete(CHANNEL, field)
        store = CredentialStore(backend=backend, environ={})
        merged = {**DEMO_SETTINGS, **settings}
        return cls(
            CHANNEL,
            TmallSettings.model_validate(merged),
            store.for_channel(CHANNEL),
            transport=transport or fake.transport(),
            clock=clock,
            retry_policy=retry_policy,
        )

    return make


@pytest.fixture
def channel(make_channel: MakeChannel) -> TmallChannel:
    return make_channel()


@pytest.fixture
def tmc(fake: FakeTop) -> Iterator[TmcServer]:
    """The fake's TMC endpoint on loopback (the demo shop: every topic permitted)."""
    with fake.serve_events() as server:
        yield server


class EventStream:
    """Reads a listener's events in a test, with a bound on every wait."""

    def __init__(self, listener: EventListener) -> None:
        self.listener = listener
        self._events = listener.__aiter__()

    async def next(self, timeout: float = 5.0) -> ChannelEvent:
        return await asyncio.wait_for(anext(self._events), timeout)

    async def take(self, count: int, timeout: float = 5.0) -> list[ChannelEvent]:
        return [await self.next(timeout) for _ in range(count)]

    async def close(self) -> None:
        await self.listener.close()
        await self._events.aclose()  # type: ignore[attr-defined]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (on the event loop) until ``condition()`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
