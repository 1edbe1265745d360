"""Shared fixtures: a fake clock, the fake PDD shop and channels mounted on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from channelsync_pinduoduo import PinduoduoChannel, PinduoduoSettings
from channelsync_pinduoduo.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakePdd, demo_fake

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.http import RetryPolicy
from channelsync.testing import MemorySecretBackend

#: 2024-03-01 12:00:00 in Beijing, the moment of the reference's computed vectors.
START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)

MakeChannel = Callable[..., PinduoduoChannel]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> FakePdd:
    return demo_fake(clock=clock)


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend({("shop", k): v for k, v in DEMO_CREDENTIALS.items()})


@pytest.fixture
def make_channel(fake: FakePdd, clock: FakeClock, backend: MemorySecretBackend) -> MakeChannel:
    def make(
        *,
        target: FakePdd | None = None,
        settings: dict[str, object] | None = None,
        store: CredentialStore | None = None,
        retry: RetryPolicy | None = None,
    ) -> PinduoduoChannel:
        credentials = (store or CredentialStore(backend=backend, environ={})).for_channel("shop")
        return PinduoduoChannel(
            "shop",
            PinduoduoSettings(**{**DEMO_SETTINGS, **(settings or {})}),  # type: ignore[arg-type]
            credentials,
            transport=(target or fake).transport(),
            clock=clock,
            retry_policy=retry,
        )

    return make


@pytest.fixture
def channel(make_channel: MakeChannel) -> PinduoduoChannel:
    return make_channel()
