"""A Tmall return restocks exactly once: the refund's sub-order and units come from refund.get.

``taobao.refunds.receive.get`` names the sub-order (``oid``) a refund covers but not
how many units; the plugin reads ``taobao.refund.get`` once per change of a refund
that returns goods, so the engine can put the units back on hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.ledger import EventKind
from channelsync.engine.shipments import request_shipment
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store

from .fake_shops import SHIPPING, START, import_demo_catalogue, open_shop

QUANTITY = 30
DETAIL = "taobao.refund.get"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _restocked(store: Store) -> list[tuple[str, int]]:
    with store.transaction() as session:
        skus = {s.id: s.merchant_code for s in session.skus()}
        return [
            (skus[e.sku_id], e.on_hand_delta)
            for e in session.ledger()
            if e.kind == EventKind.RETURN_RESTOCKED
        ]


async def test_goods_returned_on_tmall_are_restocked_once_on_every_channel(
    state: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    import_demo_catalogue(state, clock, QUANTITY)
    tmall, jd = open_shop("tmall", clock), open_shop("jd", clock, seed=1)
    sync = SyncEngine(state, [tmall.channel, jd.channel], clock=clock)
    await sync.run_cycle()

    (order,) = tmall.generate_orders(1)
    line = order.lines[0]
    code = line.merchant_code
    clock.advance(15 * 60)
    await sync.run_cycle()
    carrier, tracking = SHIPPING["tmall"]
    assert request_shipment(
        sync.context, "tmall", order.order_id, carrier=carrier, tracking_number=tracking
    )
    clock.advance(60)
    await sync.run_cycle()
    sold = sum(x.quantity for x in order.lines if x.merchant_code == code)
    assert jd.stock()[code] == QUANTITY - sold

    # The buyer sends one unit of the first sub-order back; the refund succeeds.
    fake = tmall.fake
    refund = fake.request_refund(order.order_id, oid=line.line_id, num=1, has_good_return=True)  # type: ignore[attr-defined]
    clock.advance(60)
    fake.settle_refund(refund.refund_id)  # type: ignore[attr-defined]
    clock.advance(15 * 60)
    with caplog.at_level("WARNING"):
        summary = await sync.run_cycle()
    assert summary.channels["tmall"].refunds_applied == 1
    assert _restocked(state) == [(code, 1)]
    assert jd.stock()[code] == QUANTITY - sold + 1
    assert tmall.stock()[code] == QUANTITY - sold + 1
    assert fake.calls[DETAIL] == 1
    assert "restock them by hand" not in caplog.text

    # Read again from an older cursor: nothing restocked twice, no detail read again.
    with state.transaction() as session:
        session.set_cursor("tmall", "refunds", clock.now() - timedelta(hours=2), None)
    clock.advance(60)
    with caplog.at_level("WARNING"):
        summary = await sync.run_cycle()
    assert summary.channels["tmall"].refunds_applied == 0
    assert _restocked(state) == [(code, 1)]
    assert fake.calls[DETAIL] == 1
    assert "restock them by hand" not in caplog.text


async def test_a_refund_without_goods_back_costs_no_detail_read(state: Store) -> None:
    clock = FakeClock(START)
    import_demo_catalogue(state, clock, QUANTITY)
    tmall = open_shop("tmall", clock)
    sync = SyncEngine(state, [tmall.channel], clock=clock)
    await sync.run_cycle()
    (order,) = tmall.generate_orders(1)
    clock.advance(15 * 60)
    await sync.run_cycle()
    refund = tmall.fake.request_refund(order.order_id)  # type: ignore[attr-defined]
    tmall.fake.settle_refund(refund.refund_id)  # type: ignore[attr-defined]
    clock.advance(15 * 60)
    await sync.run_cycle()
    assert tmall.fake.calls[DETAIL] == 0
    assert _restocked(state) == []
