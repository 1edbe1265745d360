"""Shared fixtures for the transport tests: a fake clock and a client factory."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.http import ChannelHttpClient, RetryPolicy, TransportMetrics

BASE_URL = "https://gw.example.test"


@dataclass(frozen=True)
class Rate:
    """Stand-in for channelsync.channels.RateLimit (same shape)."""

    rate: float
    burst: int = 1


@dataclass(frozen=True)
class Limits:
    """Stand-in for ChannelLimits: per-key limits with a default."""

    default: Rate = Rate(rate=1000.0, burst=1000)
    per_key: dict[str, Rate] = field(default_factory=dict)

    def rate_limit(self, operation: str) -> Rate:
        return self.per_key.get(operation, self.default)


@pytest.fixture
def limits() -> Callable[..., Limits]:
    """Build a limits source: ``limits(default=Rate(...), op=Rate(...))``."""

    def factory(default: Rate | None = None, **per_key: Rate) -> Limits:
        return Limits(default=default or Limits().default, per_key=dict(per_key))

    return factory


@pytest.fixture
def rate() -> type[Rate]:
    return Rate


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., ChannelHttpClient]:
    """Build a client on a mock handler; fake clock, seeded jitter, own metrics."""

    def factory(
        handler: Callable[[httpx.Request], httpx.Response],
        **overrides: Any,
    ) -> ChannelHttpClient:
        options: dict[str, Any] = {
            "limits": Limits(),
            "clock": clock,
            "retry_policy": RetryPolicy(),
            "metrics": TransportMetrics(),
            "rng": random.Random(1234),
            "transport": httpx.MockTransport(handler),
        }
        options.update(overrides)
        return ChannelHttpClient("tmall", BASE_URL, **options)

    return factory
