"""Regressions the chaos and fault suites found, pinned down in a few deterministic lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from channelsync.channels import Operation
from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.errors import TransientError
from channelsync.store import OutboxState, Store, open_store
from channelsync.testing import MemoryChannel

pytestmark = pytest.mark.reliability


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    catalogue = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,4\n"
    import_catalogue(opened, parse_catalogue(catalogue, "csv"), now=clock.now())
    yield opened
    opened.close()


async def test_a_channel_that_sold_its_share_of_a_scarce_sku_is_shown_its_share_again(
    store: Store, clock: FakeClock
) -> None:
    # Faults suite, seed 3: a channel sold the one unit it was dealt; the next deal gave
    # it one unit again, equal to what was planned before, so nothing was sent and the
    # channel went on showing 0 while the engine believed it showed 1.
    shops = [MemoryChannel(name, clock=clock) for name in ("a", "b", "c", "d")]
    for shop in shops:
        shop.add_listing(f"{shop.name}-1", "MUG", sku_id="1", quantity=0)
    engine = SyncEngine(store, shops, clock=clock)
    await engine.run_cycle()
    assert [shop.listing("MUG").quantity for shop in shops] == [1, 1, 1, 1]  # scarce: dealt

    clock.advance(60)
    shops[0].place_order([("MUG", 1)])  # the marketplace lowers its own stock at once
    assert shops[0].listing("MUG").quantity == 0
    clock.advance(60)
    await engine.run_cycle()

    shown = [shop.listing("MUG").quantity for shop in shops]
    assert sum(shown) == 3  # what is left, dealt again
    assert shown[0] == 1  # the channel that sold ranks first by recent sales
    with store.transaction() as session:
        for binding in session.bindings():
            shop = next(s for s in shops if s.name == binding.channel)
            assert binding.sent_quantity == shop.listing("MUG").quantity, binding.channel


async def test_reconciling_a_send_whose_answer_was_lost_does_not_renew_it(
    store: Store, clock: FakeClock
) -> None:
    # Chaos suite, seed 1: after a SIGKILL between a send and its answer, every
    # reconcile queued the same value again; the new entry version made the flush in
    # flight unable to record its answer, so with a slow marketplace (Amazon) the
    # channel never settled.
    a, b = MemoryChannel("a", clock=clock), MemoryChannel("b", clock=clock)
    for shop in (a, b):
        shop.add_listing(f"{shop.name}-1", "MUG", sku_id="1", quantity=0)
    engine = SyncEngine(store, [a, b], clock=clock)
    await engine.run_cycle()
    assert a.listing("MUG").quantity == b.listing("MUG").quantity == 4

    clock.advance(60)
    b.place_order([("MUG", 1)])
    clock.advance(60)
    a.fail_calls(Operation.SET_STOCK, TransientError("reset", channel="a"), after_apply=True)
    await engine.run_cycle()
    assert a.listing("MUG").quantity == 3  # applied; the answer was lost
    with store.transaction() as session:
        (pending,) = session.outbox(channel="a", state=OutboxState.PENDING)

    async with a:
        report = await reconcile_channel(engine.context, a)
    assert report.drift == []  # the channel shows what is planned: nothing to correct
    with store.transaction() as session:
        (still,) = session.outbox(channel="a", state=OutboxState.PENDING)
    assert (still.id, still.version) == (pending.id, pending.version)

    clock.advance(3600)  # past the retry's backoff: the resend records the answer
    await engine.run_cycle()
    with store.transaction() as session:
        assert not session.outbox(state=OutboxState.PENDING)
        assert {bd.channel: bd.sent_quantity for bd in session.bindings()} == {"a": 3, "b": 3}
