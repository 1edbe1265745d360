"""A slice's plan, with what it reads and decides once per slice, is each SKU's own plan.

The planner shares work across the SKUs of a slice: each channel's settings are read
once, SKUs bound to the same channels share their shares, and SKUs with the same units,
channels and pace share their allocation. Here channels differ in every setting that
decides a quantity, a price or a status, SKUs differ in stock, channels and recent
sales, and every queued entry must be what the SKU computed on its own gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, EngineConfig, PriceRule
from channelsync.engine.allocation import ChannelShare, allocate
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.context import ChannelInfo, EngineContext
from channelsync.engine.outbox import stock_urgency
from channelsync.engine.pace import ChannelVisibility, SlicePace, Visibility
from channelsync.engine.planner import plan_changes
from channelsync.engine.pricing import CurrencyMismatch, plan_price
from channelsync.store import (
    LedgerEvent,
    ListingBinding,
    OutboxEntry,
    SqlStore,
    Store,
    StoreSession,
    open_store,
)
from channelsync.store.sql import SqlSession

SKUS = 93
#: SKUs made to share what decides their allocation with another, but one thing:
#: their channels (in another order), units and sales (recent, long ago or none).
EXTRA = {
    90: (["a", "b", "c", "d"], 1),
    91: (["d", "c", "b", "a"], 5),
    92: (["a", "b", "c", "d"], 5),
}
SETTINGS = {
    "a": ChannelSyncSettings(share=Decimal("0.5"), buffer=1, priority=2),
    "b": ChannelSyncSettings(cap=7, minimum=2),
    "c": ChannelSyncSettings(managed_stock=False),
    "d": ChannelSyncSettings(
        auto_delist=True, price=PriceRule(markup=Decimal(10), ending=Decimal("0.90"))
    ),
    "e": ChannelSyncSettings(priority=-1, price=PriceRule(currency="USD")),
}
CONFIG = EngineConfig(pace_window_seconds=3600)


def _code(i: int) -> str:
    return f"S-{i:03d}"


def _channels_of(i: int) -> list[str]:
    """A different set of channels for many SKUs, listed in either order."""
    if i in EXTRA:
        return EXTRA[i][0]
    names = [n for j, n in enumerate(SETTINGS) if (i >> j) & 1 or j == i % 5]
    return names[::-1] if i % 2 else names


def _quantity(i: int) -> int:
    """Few stock levels: many SKUs share them, some are scarce or at zero."""
    return EXTRA[i][1] if i in EXTRA else i % 13


def _sale(sku_id: int, name: str, units: int = 1) -> LedgerEvent:
    return LedgerEvent(
        f"sold:{sku_id}:{name}",
        "order_reserved",
        sku_id,
        reserved_delta=units,
        channel=name,
        order_id=f"O-{sku_id}-{name}",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    rows = ["sku,title,price,currency,quantity"]
    rows += [f"{_code(i)},T{i},{10 + i % 3}.00,CNY,{_quantity(i)}" for i in range(SKUS)]
    import_catalogue(opened, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())
    with opened.transaction() as session:
        ids = {s.merchant_code: s.id for s in session.skus()}
        session.upsert_bindings(
            [
                ListingBinding(name, f"{name}-{i}", "1", ids[_code(i)], _code(i))
                for i in range(SKUS)
                for name in _channels_of(i)
            ],
            clock.now(),
        )
        # Sold two hours ago: a recent sale that makes no pace now.
        session.apply_events([_sale(ids[_code(92)], "d", 2)], clock.now())
        clock.advance(7200)
        # A sale on every third SKU, on d where it sells there (d ranks with b by
        # priority, then by sales), and on a too for some: a pace on one or two channels.
        sales = [
            _sale(ids[_code(i)], name)
            for i in range(0, 90, 3)
            for name in ("d" if "d" in _channels_of(i) else "b", "a")[: 1 + (i % 9 == 0)]
        ]
        session.apply_events([*sales, _sale(ids[_code(91)], "d", 2)], clock.now())
    clock.advance(600)
    yield opened
    opened.close()


def _context(store: Store, clock: FakeClock) -> EngineContext:
    channels = {
        name: ChannelInfo(
            name=name,
            type_name="memory",
            settings=settings,
            inventory=True,
            pricing=True,
            listings=True,
        )
        for name, settings in SETTINGS.items()
    }
    visibility = Visibility(channels={name: ChannelVisibility(lag=600) for name in SETTINGS})
    return EngineContext(store, clock, channels, config=CONFIG, visibility=visibility)


def _own_plan(
    session: StoreSession, context: EngineContext, sku_id: int
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """What one SKU should be sent, computed for it alone, step by step."""
    now = context.clock.now()
    sku = session.skus_by_id([sku_id])[sku_id]
    available = session.positions([sku_id])[sku_id].available
    bindings = [b for b in session.bindings(sku_ids=[sku_id]) if b.sku_id == sku_id]
    sales = session.recent_sales([sku_id], now - timedelta(days=CONFIG.sales_window_days))
    names = sorted({b.channel for b in bindings if context.channels[b.channel].pushes_stock})
    shares = [ChannelShare(n, SETTINGS[n], sales.get((sku_id, n), 0)) for n in names]
    pace = SlicePace.read(
        session, context.visibility, [sku_id], window_seconds=CONFIG.pace_window_seconds, now=now
    )
    allocation = allocate(available, shares, in_flight=pace.in_flight(sku_id, names))
    expected: dict[tuple[str, str, str], dict[str, Any]] = {}
    for b in bindings:
        key = f"{b.item_id}/{b.listing_sku_id}"
        address = {
            "binding_id": b.id,
            "item_id": b.item_id,
            "sku_id": b.listing_sku_id,
            "merchant_code": sku.merchant_code,
        }
        if b.channel in allocation.shown:
            quantity = allocation.shown[b.channel]
            urgency = stock_urgency(quantity, None)
            expected[(b.channel, "stock", key)] = {
                **address,
                "quantity": quantity,
                "previous": None,
                "urgency": urgency,
            }
            if SETTINGS[b.channel].auto_delist:
                status = "delisted" if quantity == 0 else "on_sale"
                expected[(b.channel, "listing", key)] = {**address, "status": status, "urgency": 0}
        price = plan_price(sku, SETTINGS[b.channel], channel=b.channel, channel_type="x", now=now)
        if not isinstance(price, CurrencyMismatch):
            expected[(b.channel, "price", key)] = {
                **address,
                "amount": format(price.amount, "f"),
                "currency": price.currency,
                "urgency": 0,
            }
    return expected


def test_a_slice_plans_each_sku_as_it_would_alone(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, SqlStore)
    queued: list[OutboxEntry] = []
    enqueue = SqlSession.enqueue_many

    def recording(self: SqlSession, entries: Sequence[OutboxEntry], now: Any) -> None:
        queued.extend(entries)
        enqueue(self, entries, now)

    monkeypatch.setattr(SqlSession, "enqueue_many", recording)
    context = _context(store, clock)
    with store.transaction() as session:
        ids = sorted(s.id for s in session.skus())
        expected: dict[tuple[str, str, str], dict[str, Any]] = {}
        for sku_id in ids:
            expected.update(_own_plan(session, context, sku_id))
        report = plan_changes(session, context, ids)
    planned = {(e.channel, str(e.kind), e.key): {**e.payload, "urgency": e.urgency} for e in queued}
    assert len(planned) == len(queued)
    assert planned == expected
    # The cases the comparison covers are there: scarce and plentiful SKUs, units held
    # for the pace, channels ranked by sales, delists, a channel with no price to send.
    quantities = [p["quantity"] for (_, kind, _), p in planned.items() if kind == "stock"]
    assert 0 in quantities
    assert max(quantities) > 7
    assert {kind for _, kind, _ in planned} == {"stock", "price", "listing"}
    assert not any(channel == "c" and kind == "stock" for channel, kind, _ in planned)
    assert not any(channel == "e" and kind == "price" for channel, kind, _ in planned)
    assert report.overcommitted  # b's minimum on SKUs at zero
    # S-015 and S-090 have one unit left (a's share of it is none): d sold S-015 lately,
    # so d ranks before b and gets it; S-090 sold nothing, and b (by name) gets it.
    assert planned[("d", "stock", "d-15/1")]["quantity"] == 1
    assert planned[("d", "stock", "d-90/1")]["quantity"] == 0
    # S-091 and S-092 have 3 units and the same sales: S-091's are recent, a pace that
    # holds one unit back.
    assert planned[("d", "stock", "d-91/1")]["quantity"] == 1
    assert planned[("d", "stock", "d-92/1")]["quantity"] == 2
    assert report.skus == SKUS
    with store.transaction() as session:
        assert any(
            SlicePace.read(
                session, context.visibility, [i], window_seconds=3600, now=clock.now()
            ).in_flight(i, list(SETTINGS))
            for i in ids
        )
