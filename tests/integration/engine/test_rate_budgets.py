"""Rate budgets in the store: saved per channel and operation, read back, upserted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from channelsync.channels import ChannelLimits, RateLimit
from channelsync.clock import FakeClock
from channelsync.engine.budgets import save_budgets
from channelsync.http import RateLimiter
from channelsync.store import open_store

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_budgets_are_saved_per_channel_and_operation_and_replaced(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as s:
            assert s.rate_budgets("amazon-us") == {}
            s.save_rate_budgets("amazon-us", {"createFeed": 3.5, "getOrder": 30.0}, NOW)
            s.save_rate_budgets("jd", {"jingdong.stock.write": 1.0}, NOW)
        later = NOW + timedelta(seconds=40)
        with store.transaction() as s:
            s.save_rate_budgets("amazon-us", {"createFeed": 0.25}, later)
        with store.transaction() as s:
            assert s.rate_budgets("amazon-us") == {
                "createFeed": (0.25, later),
                "getOrder": (30.0, NOW),
            }
            assert s.rate_budgets("jd") == {"jingdong.stock.write": (1.0, NOW)}


class _Http:
    """Just what the budget saver reads of a transport: its rate limiter."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.rate_limiter = limiter


def test_full_buckets_saved_once_are_not_written_again_after_every_step(store_url: str) -> None:
    clock = FakeClock(NOW)
    limiter = RateLimiter(clock)
    limiter.configure("tmall", ChannelLimits(default_rate_limit=RateLimit(rate=1.0, burst=2)))
    channel = SimpleNamespace(name="tmall", http=_Http(limiter))
    with open_store(store_url) as store:
        context = SimpleNamespace(store=store, clock=clock)
        asyncio.run(limiter.acquire("tmall", "taobao.item.get"))
        save_budgets(context, channel)  # type: ignore[arg-type]
        clock.advance(5)  # refilled: full again
        save_budgets(context, channel)  # type: ignore[arg-type]
        full_at = clock.now()
        clock.advance(5)  # idle: still full, nothing new to record
        save_budgets(context, channel)  # type: ignore[arg-type]
        with store.transaction() as s:
            assert s.rate_budgets("tmall") == {"taobao.item.get": (2.0, full_at)}
