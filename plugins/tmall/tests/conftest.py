from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from channelsync_tmall import TmallChannel, TmallSettings
from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeTop, demo_fake

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
