"""A known order set whose figures are worked out by hand in the tests.

Period: 1 to 3 November 2026, days in Asia/Shanghai (UTC+8), so an order placed at
16:30 UTC on 31 October falls on 1 November. Catalogue: MUG, TEE, CAP, BAG.

=====  ========  ===================  ===================  ========================  ======
order  channel   placed (UTC)         status               lines                     total
=====  ========  ===================  ===================  ========================  ======
A1     shop-a    10-31 16:30 (11-01)  paid                 MUG 2 x 20.00             45.00
A2     shop-a    11-01 10:00          completed            MUG 1 x 20, TEE 1 x 35.5  55.50
A3     shop-a    11-02 03:00          shipped              TEE 3 x 35.50             100.00
A4     shop-a    11-02 05:00          cancelled            MUG 1 x 20.00             20.00
A5     shop-a    11-03 15:59          refunded             CAP 1 x 15.00             15.00
A6     shop-a    11-03 16:00 (11-04)  paid, after period   MUG 1 x 20.00             20.00
A7     shop-a    10-25 00:00          paid, before period  MUG 4 x 20.00             80.00
A8     shop-a    11-02 06:00          pending_payment      MUG 1 x 20.00             20.00
B1     shop-b    11-01 01:00          paid                 b-tee (bound) 2 x 30.00   60.00
B2     shop-b    11-03 02:00          refund_requested     CAP 1 x 15, GHOST 1 x 5   20.00
C1     shop-c    11-02 12:00          paid                 MUG 1 x 3.50 USD          3.50
C2     shop-c    11-02 13:00          paid                 MUG 2 x 3.50 USD          7.00
=====  ========  ===================  ===================  ========================  ======

Buyers: shop-a A1 u1, A2 u2, A3 u1, A4 u3; shop-b none; shop-c x1, x2. Stock: MUG 30 on
hand 2 reserved, TEE 5 on hand 1 safety, CAP 0, BAG 12.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.report import CatalogueIndex, ReportPeriod
from channelsync.store import (
    BindingRecord,
    LedgerEvent,
    SkuRecord,
    StockPosition,
    Store,
    StoredOrder,
    open_store,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def line(
    code: str | None, quantity: int, price: str, currency: str = "CNY", item: str | None = None
) -> OrderLine:
    return OrderLine(
        item_id=item or f"item-{code}",
        merchant_code=code,
        quantity=quantity,
        unit_price=Money.of(price, currency),
    )


def order(
    channel: str,
    order_id: str,
    placed: str,
    status: OrderStatus,
    lines: list[OrderLine],
    total: str,
    *,
    buyer: str | None = None,
    currency: str = "CNY",
) -> Order:
    created = datetime.fromisoformat(placed).replace(tzinfo=UTC)
    return Order(
        channel=channel,
        order_id=order_id,
        status=status,
        raw_status=status.value,
        created_at=created,
        updated_at=created,
        lines=tuple(lines),
        total=Money.of(total, currency),
        buyer_id=buyer,
    )


def _known_orders() -> list[Order]:
    s = OrderStatus
    return [
        order(
            "shop-a",
            "A1",
            "2026-10-31T16:30",
            s.PAID,
            [line("MUG", 2, "20.00")],
            "45.00",
            buyer="u1",
        ),
        order(
            "shop-a",
            "A2",
            "2026-11-01T10:00",
            s.COMPLETED,
            [line("MUG", 1, "20.00"), line("TEE", 1, "35.50")],
            "55.50",
            buyer="u2",
        ),
        order(
            "shop-a",
            "A3",
            "2026-11-02T03:00",
            s.SHIPPED,
            [line("TEE", 3, "35.50")],
            "100.00",
            buyer="u1",
        ),
        order(
            "shop-a",
            "A4",
            "2026-11-02T05:00",
            s.CANCELLED,
            [line("MUG", 1, "20.00")],
            "20.00",
            buyer="u3",
        ),
        order("shop-a", "A5", "2026-11-03T15:59", s.REFUNDED, [line("CAP", 1, "15.00")], "15.00"),
        order("shop-a", "A6", "2026-11-03T16:00", s.PAID, [line("MUG", 1, "20.00")], "20.00"),
        order("shop-a", "A7", "2026-10-25T00:00", s.PAID, [line("MUG", 4, "20.00")], "80.00"),
        order(
            "shop-a",
            "A8",
            "2026-11-02T06:00",
            s.PENDING_PAYMENT,
            [line("MUG", 1, "20.00")],
            "20.00",
        ),
        order(
            "shop-b",
            "B1",
            "2026-11-01T01:00",
            s.PAID,
            [line(None, 2, "30.00", item="b-tee")],
            "60.00",
        ),
        order(
            "shop-b",
            "B2",
            "2026-11-03T02:00",
            s.REFUND_REQUESTED,
            [line("CAP", 1, "15.00"), line("GHOST", 1, "5.00")],
            "20.00",
        ),
        order(
            "shop-c",
            "C1",
            "2026-11-02T12:00",
            s.PAID,
            [line("MUG", 1, "3.50", "USD")],
            "3.50",
            buyer="x1",
            currency="USD",
        ),
        order(
            "shop-c",
            "C2",
            "2026-11-02T13:00",
            s.PAID,
            [line("MUG", 2, "3.50", "USD")],
            "7.00",
            buyer="x2",
            currency="USD",
        ),
    ]


@pytest.fixture
def period() -> ReportPeriod:
    return ReportPeriod(
        since=datetime(2026, 11, 1, tzinfo=SHANGHAI),
        until=datetime(2026, 11, 4, tzinfo=SHANGHAI),
        zone=SHANGHAI,
    )


@pytest.fixture
def known_orders() -> list[Order]:
    return _known_orders()


#: merchant code -> (on hand, reserved, safety stock)
STOCK = {"MUG": (30, 2, 0), "TEE": (5, 0, 1), "CAP": (0, 0, 0), "BAG": (12, 0, 0)}


def _sku(sku_id: int, code: str) -> SkuRecord:
    return SkuRecord(
        id=sku_id,
        merchant_code=code,
        product_code=None,
        title=code.title(),
        price="20.00",
        currency="CNY",
        cost=None,
        barcode=None,
        attributes={},
        safety_stock=STOCK[code][2],
        low_stock_alerted=False,
    )


@pytest.fixture
def catalogue() -> CatalogueIndex:
    skus = [_sku(i, code) for i, code in enumerate(STOCK, start=1)]
    binding = BindingRecord(
        id=1,
        channel="shop-b",
        item_id="b-tee",
        listing_sku_id=None,
        sku_id=2,
        merchant_code=None,
        manual=True,
        title=None,
        channel_quantity=None,
        planned_quantity=None,
        sent_quantity=None,
        planned_price=None,
        sent_price=None,
    )
    return CatalogueIndex.build(skus, [binding])


@pytest.fixture
def positions() -> dict[int, StockPosition]:
    return {
        i: StockPosition(sku_id=i, on_hand=on_hand, reserved=reserved, safety_stock=safety)
        for i, (on_hand, reserved, safety) in enumerate(STOCK.values(), start=1)
    }


def seed(store: Store, orders: list[Order]) -> None:
    """Write the catalogue, the stock and ``orders`` into ``store`` as the engine would."""
    now = datetime(2026, 11, 5, tzinfo=UTC)
    with store.transaction() as session:
        ids = {}
        for code, (on_hand, reserved, safety) in STOCK.items():
            sku_id = session.upsert_sku(
                merchant_code=code,
                product_id=None,
                title=code.title(),
                price="20.00",
                currency="CNY",
                cost=None,
                barcode=None,
                attributes={},
                now=now,
            )
            ids[code] = sku_id
            if on_hand:
                session.apply_event(
                    LedgerEvent(f"count:{code}", "adjustment", sku_id, on_hand_delta=on_hand), now
                )
            if reserved:
                session.apply_event(
                    LedgerEvent(
                        f"reserve:{code}",
                        "reserved",
                        sku_id,
                        reserved_delta=reserved,
                        channel="shop-a",
                        order_id="A1",
                    ),
                    now,
                )
            if safety:
                session.set_safety_stock(sku_id, safety)
        session.upsert_binding(
            channel="shop-b",
            item_id="b-tee",
            listing_sku_id=None,
            sku_id=ids["TEE"],
            merchant_code=None,
            manual=True,
            title=None,
            channel_quantity=None,
            now=now,
        )
        for o in orders:
            session.save_order(
                StoredOrder(
                    channel=o.channel,
                    order_id=o.order_id,
                    status=o.status.value,
                    version=o.version,
                    updated_at=o.updated_at,
                    created_at=o.created_at,
                    on_hold=o.on_hold,
                    raw=o.model_dump(mode="json"),
                    imported_at=now,
                )
            )


@pytest.fixture
def seeded_store(tmp_path: Path, known_orders: list[Order]) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        seed(store, known_orders)
        yield store
    finally:
        store.close()
