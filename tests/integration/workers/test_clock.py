"""The clock: each step falls due once per interval, whichever worker runs which tick."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from croniter import croniter

from channelsync.channels import Channel, ChannelSettings, InventoryCapability
from channelsync.config import DaemonConfig
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.testing import MemoryChannel
from channelsync.workers.clock import Cadence, cadences, cron, due, tick_seconds
from channelsync.workers.deferring import FLUSH, PULL_ORDERS, PULL_REFUNDS, RECONCILE


class StockOnly(Channel[ChannelSettings], InventoryCapability):
    """A channel that only takes stock: no orders, refunds or listings."""

    type_name = "stock-only"
    display_name = "Stock only"

    def __init__(self, name: str) -> None:
        store = CredentialStore(backend=MemorySecretBackend(), environ={})
        super().__init__(name, ChannelSettings(), store.for_channel(name))

    async def send_stock_batch(self, batch):  # pragma: no cover - never called here
        raise NotImplementedError


def test_the_tick_is_the_longest_that_keeps_the_shortest_interval() -> None:
    assert tick_seconds(DaemonConfig()) == 5  # flush_interval 5
    assert tick_seconds(DaemonConfig(flush_interval=0.05, pull_interval=0.05, stale_after=1)) == 1
    assert tick_seconds(DaemonConfig(flush_interval=7)) == 6  # a tick divides a minute
    settings = DaemonConfig(flush_interval=600, pull_interval=90, reconcile_interval=3600)
    assert tick_seconds(settings) == 60
    assert cron(60) == "* * * * *"


@pytest.mark.parametrize("tick", [1, 5, 15, 60])
def test_a_tick_cron_fires_every_tick(tick: int) -> None:
    times = croniter(cron(tick), 1_700_000_000)
    fires = [times.get_next(float) for _ in range(130)]
    assert {round(b - a) for a, b in itertools.pairwise(fires)} == {tick}


def test_each_step_is_due_once_per_interval_over_consecutive_ticks() -> None:
    settings = DaemonConfig(
        pull_interval=60, pull_intervals={"jd": 120}, flush_interval=5, reconcile_interval=600
    )
    channels = {"tmall": MemoryChannel("tmall"), "jd": MemoryChannel("jd"), "b2b": StockOnly("b2b")}
    kept = cadences(channels, settings, reconcile=True)
    tick = tick_seconds(settings)
    start = 1_700_000_000 - 1_700_000_000 % tick
    counts: Counter[tuple[str, str]] = Counter()
    for at in range(start + tick, start + 1200 + tick, tick):  # 20 minutes of ticks
        counts.update(due(kept, at, tick))
    assert counts[(PULL_ORDERS, "tmall")] == 20
    assert counts[(PULL_REFUNDS, "tmall")] == 20
    assert counts[(PULL_ORDERS, "jd")] == 10  # its own interval
    assert counts[(FLUSH, "tmall")] == counts[(FLUSH, "b2b")] == 240
    assert counts[(RECONCILE, "tmall")] == counts[(RECONCILE, "jd")] == 2
    # A channel without orders is still pulled (binding, planning); nothing else it lacks.
    assert counts[(PULL_ORDERS, "b2b")] == 20
    assert (PULL_REFUNDS, "b2b") not in counts
    assert (RECONCILE, "b2b") not in counts
    assert not any(
        step == RECONCILE
        for step, _ in due(cadences(channels, settings, reconcile=False), start, 10**6)
    )


def test_channels_with_one_interval_are_spread_over_it() -> None:
    steps = [Cadence(PULL_ORDERS, f"shop-{i}", 60) for i in range(100)]
    seconds = Counter(at for at in range(1_700_000_040, 1_700_000_100) for _ in due(steps, at, 1))
    assert sum(seconds.values()) == 100  # each once in the minute
    assert max(seconds.values()) <= 10  # not all in the same second


def test_a_step_shorter_than_the_tick_is_due_every_tick() -> None:
    assert due([Cadence(FLUSH, "tmall", 0.05)], 1_700_000_001, 1) == [(FLUSH, "tmall")]
