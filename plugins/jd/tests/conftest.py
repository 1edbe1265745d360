from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from channelsync_jd import JdChannel, JdSettings
from channelsync_jd.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeJos, demo_fake

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
BASE_URL = "http://jos.fake.test/routerjson"
NAME = "jd-shop"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> FakeJos:
    return demo_fake(clock=clock)


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend({(NAME, field): value for field, value in DEMO_CREDENTIALS.items()})


def make_channel(
    fake: FakeJos,
    clock: FakeClock,
    backend: MemorySecretBackend,
    *,
    cls: type[JdChannel] = JdChannel,
    **settings: Any,
) -> JdChannel:
    store = CredentialStore(backend=backend, environ={})
    return cls(
        NAME,
        JdSettings(**{**DEMO_SETTINGS, "base_url": BASE_URL, **settings}),  # type: ignore[arg-type]
        store.for_channel(NAME),
        transport=fake.transport(),
        clock=clock,
    )


Factory = Callable[..., JdChannel]


@pytest.fixture
def make(fake: FakeJos, clock: FakeClock, backend: MemorySecretBackend) -> Factory:
    """Build a channel on the fake (not yet open); keyword arguments are settings."""

    def build(cls: type[JdChannel] = JdChannel, **settings: Any) -> JdChannel:
        return make_channel(fake, clock, backend, cls=cls, **settings)

    return build


@pytest.fixture
async def channel(
    fake: FakeJos, clock: FakeClock, backend: MemorySecretBackend
) -> AsyncIterator[JdChannel]:
    async with make_channel(fake, clock, backend) as opened:
        yield opened
