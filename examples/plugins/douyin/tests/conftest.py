"""Shared fixtures: a fake Douyin gateway on a fake clock, and channels on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.http import RetryPolicy

from channelsync_douyin import DouyinChannel, DouyinSettings
from channelsync_douyin.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeDouyin, demo_fake

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)

MakeChannel = Callable[..., DouyinChannel]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> FakeDouyin:
    return demo_fake(clock=clock)


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend({("shop", k): v for k, v in DEMO_CREDENTIALS.items()})


@pytest.fixture
def make_channel(fake: FakeDouyin, clock: FakeClock, backend: MemorySecretBackend) -> MakeChannel:
    def make(*, retries: int = 1, transport: Any = "fake", **settings: Any) -> DouyinChannel:
        store = CredentialStore(backend=backend, environ={})
        return DouyinChannel(
            "shop",
            DouyinSettings(**{**DEMO_SETTINGS, **settings}),
            store.for_channel("shop", DouyinChannel.all_credential_fields()),
            transport=fake.transport() if transport == "fake" else transport,
            clock=clock,
            retry_policy=RetryPolicy(max_attempts=retries, initial_wait=0.0, jitter=0.0),
        )

    return make
