"""A flush settles the answers of a few calls in a row at once, and stops where it must."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from channelsync.channels import ChannelLimits, Operation
from channelsync.clock import FakeClock
from channelsync.engine import outbox
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.engine.sync import SyncEngine
from channelsync.errors import RateLimitedError
from channelsync.models import StockUpdate, UpdateResult
from channelsync.store import OutboxState, Store
from channelsync.store.sql.outbox import SqlOutbox
from channelsync.testing import MemoryChannel


class OneAtATime(MemoryChannel):
    """A marketplace that takes one stock update per call."""

    limits: ClassVar[ChannelLimits] = MemoryChannel.limits.model_copy(
        update={"batch_sizes": {**MemoryChannel.limits.batch_sizes, Operation.SET_STOCK: 1}}
    )


class ThrottledSecondCall(OneAtATime):
    """Throttles its second stock call, once."""

    stock_calls = 0

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        self.stock_calls += 1
        if self.stock_calls == 2:
            raise RateLimitedError("slow down", retry_after=1)
        return await super().send_stock_batch(batch)


def one_shop(cls: type[OneAtATime], clock: FakeClock) -> OneAtATime:
    shop = cls("tmall", clock=clock)
    shop.add_listing("tmall-1", "MUG", sku_id="1", quantity=0)
    shop.add_listing("tmall-2", "CUP", sku_id="2", quantity=0)
    return shop


def settles(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the kinds of the entries each settle records, one list per settle."""
    seen: list[list[str]] = []
    original = outbox._settle

    def recording(session: Any, items: Sequence[Any], *args: Any, **kwargs: Any) -> None:
        seen.append([item.kind for item in items])
        original(session, items, *args, **kwargs)

    monkeypatch.setattr(outbox, "_settle", recording)
    return seen


def stock_entries(store: Store, state: OutboxState) -> list[str]:
    with store.transaction() as session:
        found = session.outbox(channel="tmall", state=state)
    return sorted(str(e.payload["merchant_code"]) for e in found if e.kind == "stock")


async def test_the_answers_of_calls_in_a_row_are_settled_together(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = one_shop(OneAtATime, clock)
    seen = settles(monkeypatch)
    await SyncEngine(store, [shop], clock=clock).run_cycle()
    assert [size for op, size in shop.calls if op == Operation.SET_STOCK.value] == [1, 1]
    assert seen == [["stock", "stock"], ["price", "price"]]  # one settle per kind
    assert (shop.listing("MUG").quantity, shop.listing("CUP").quantity) == (10, 1)
    assert stock_entries(store, OutboxState.SENT) == ["CUP", "MUG"]


async def test_calls_spaced_out_are_settled_each_on_its_own(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A marketplace whose rate limit spaces calls past SETTLE_WITHIN.
    monkeypatch.setattr(outbox, "SETTLE_WITHIN", 0.0)
    shop = one_shop(OneAtATime, clock)
    seen = settles(monkeypatch)
    await SyncEngine(store, [shop], clock=clock).run_cycle()
    assert seen == [["stock"], ["stock"], ["price", "price"]]
    assert stock_entries(store, OutboxState.SENT) == ["CUP", "MUG"]


async def test_a_throttled_call_ends_the_calls_and_what_was_answered_is_settled(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = one_shop(ThrottledSecondCall, clock)
    seen = settles(monkeypatch)
    summary = await SyncEngine(store, [shop], clock=clock).run_cycle()
    # CUP (1 unit) and MUG (10): the first call's answer is recorded with the second's
    # refusal, and the flush waits for the next cycle (no price call either).
    assert seen == [["stock", "stock"]]
    assert summary.channels["tmall"].retried == 1
    assert stock_entries(store, OutboxState.SENT) == ["CUP"]
    assert stock_entries(store, OutboxState.PENDING) == ["MUG"]
    clock.advance(3600)
    await SyncEngine(store, [shop], clock=clock).run_cycle()
    assert stock_entries(store, OutboxState.PENDING) == []
    assert shop.listing("MUG").quantity == 10


class BrokenSecondCall(OneAtATime):
    """Raises an error of its own (a bug, not a marketplace's answer) in its second stock call."""

    stock_calls = 0

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        self.stock_calls += 1
        if self.stock_calls == 2:
            raise RuntimeError("the plugin broke")
        return await super().send_stock_batch(batch)


async def test_a_call_that_raises_ends_the_flush_after_settling_the_calls_before_it(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = one_shop(BrokenSecondCall, clock)
    seen = settles(monkeypatch)
    with pytest.raises(RuntimeError, match="the plugin broke"):
        await SyncEngine(store, [shop], clock=clock).run_cycle()
    # CUP went first and the marketplace took it: recorded, not sent again.
    assert seen == [["stock"]]
    assert stock_entries(store, OutboxState.SENT) == ["CUP"]
    assert stock_entries(store, OutboxState.PENDING) == ["MUG"]
    assert shop.listing("CUP").quantity == 1


async def test_a_settle_that_fails_before_the_calls_error_is_logged_and_the_error_goes_on(
    store: Store,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise OSError("the store went away")

    monkeypatch.setattr(outbox, "_settle", failing)
    shop = one_shop(BrokenSecondCall, clock)
    with (
        caplog.at_level("WARNING", logger=outbox.__name__),
        pytest.raises(RuntimeError, match="the plugin broke"),
    ):
        await SyncEngine(store, [shop], clock=clock).run_cycle()
    assert "the answers of 1 entries before a failed call were not recorded" in caplog.text
    assert "OSError: the store went away" in caplog.text
    assert stock_entries(store, OutboxState.PENDING) == ["CUP", "MUG"]  # to be sent again


class SellsOutMidway(OneAtATime):
    """Runs ``midway`` during its first stock call; records each call's SKU."""

    midway: Callable[[], None] = staticmethod(lambda: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, int]] = []

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        if not self.sent:
            self.midway()
        self.sent += [(str(update.merchant_code), update.quantity) for update in batch]
        return await super().send_stock_batch(batch)


SIX = "sku,title,price,currency,quantity\n" + "".join(
    f"S{n},Item {n},9.00,CNY,5\n" for n in range(1, 7)
)


async def sells_out_midway(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, int]]:
    """Six SKUs sent one per call; S1, queued last, sells out during the first. The sends.

    A read takes four calls' entries here (``CALLS_PER_SETTLE``), so six SKUs take two.
    """
    monkeypatch.setattr(outbox, "CALLS_PER_SETTLE", 4)
    import_catalogue(store, parse_catalogue(SIX, "csv"), now=clock.now())
    shop = SellsOutMidway("tmall", clock=clock)
    for n in range(1, 7):
        shop.add_listing(f"tmall-s{n}", f"S{n}", sku_id=str(n), quantity=0)
    engine = SyncEngine(store, [shop], clock=clock)

    def sell_out() -> None:
        adjust_stock(store, "S1", -5, key="sold-out", now=clock.now())
        engine.replan()

    shop.midway = sell_out
    await engine.run_cycle()
    assert shop.listing("S1").quantity == 0
    return shop.sent


async def test_a_flush_reads_on_and_from_the_front_before_it_ends(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = await sells_out_midway(store, clock, monkeypatch)
    # The first read held S6-S3; the next read went on after S3, so S1's zero-out,
    # queued meanwhile at the front, went once nothing was left after S2.
    assert sent == [("S6", 5), ("S5", 5), ("S4", 5), ("S3", 5), ("S2", 5), ("S1", 0)]


async def test_a_flush_reads_from_the_front_again_after_a_while(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "READ_ON_FOR", 0.0)
    sent = await sells_out_midway(store, clock, monkeypatch)
    assert sent == [("S6", 5), ("S5", 5), ("S4", 5), ("S3", 5), ("S1", 0), ("S2", 5)]


async def test_a_flush_that_reads_everything_at_once_reads_from_the_front(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, str | None]] = []
    original = SqlOutbox.due

    def recording(self: SqlOutbox, channel: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        after = kwargs.get("after")
        reads.append((kind, None if after is None else after.key))
        return original(self, channel, kind, *args, **kwargs)

    monkeypatch.setattr(SqlOutbox, "due", recording)
    await SyncEngine(store, [one_shop(OneAtATime, clock)], clock=clock).run_cycle()
    # Two entries of each kind, fewer than a read's four: then none was left after them,
    # and the read that settles them looks from the front for anything queued meanwhile.
    assert [(kind, after) for kind, after in reads if kind in ("stock", "price")] == [
        ("stock", None),
        ("stock", None),
        ("price", None),
        ("price", None),
    ]
