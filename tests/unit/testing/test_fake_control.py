"""The fake toolkit's control surface: forced page sizes, page hooks, and state changes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.testing.fakes import (
    FakeChange,
    FakeItem,
    FakeMarketplace,
    FakeOrder,
    FakeRefund,
    FakeSku,
    Fault,
    OrderChange,
    OrderGenerator,
    PageKind,
    PageServed,
    RefundChange,
    UnsupportedChange,
)

START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
DOCUMENTED = 10


class PagedMarketplace(FakeMarketplace):
    """GET /orders?page=&size= lists orders oldest first; sizes over 10 are refused."""

    order_changes: ClassVar[frozenset[OrderChange]] = frozenset(
        {OrderChange.TOUCHED, OrderChange.CANCELLED}
    )
    refund_changes: ClassVar[frozenset[RefundChange]] = frozenset({RefundChange.REFUNDED})

    def operation_of(self, request: httpx.Request) -> str:
        return request.url.path.strip("/")

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["size"])
        if not 1 <= size <= self.page_size_limit(DOCUMENTED):
            return httpx.Response(400, json={"error": "size"})
        ordered = sorted(self.store.orders.values(), key=lambda o: (o.modified, o.order_id))
        chunk = ordered[page * size : (page + 1) * size]
        answer = httpx.Response(200, json={"ids": [o.order_id for o in chunk]})
        self.page_served(PageKind.ORDERS, operation, [o.order_id for o in chunk])
        return answer

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        return httpx.Response(503)

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        order.status = "CLOSED"

    def create_refund(self, order: FakeOrder) -> FakeRefund:
        now = self.clock.now()
        refund = FakeRefund(f"R{order.order_id}", order.order_id, "OPEN", order.total, now, now)
        return self.store.add_refund(refund)

    def apply_refund_change(self, refund: FakeRefund, change: RefundChange) -> None:
        refund.status = "PAID_BACK"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> PagedMarketplace:
    fake = PagedMarketplace(clock=clock)
    item = FakeItem("I1", "Tea", "CS-1", Decimal("9.90"), True, START, START)
    item.skus.append(FakeSku("S1", "CS-1-1", Decimal("9.90"), 100))
    fake.store.add_item(item)
    OrderGenerator(fake.store, clock, order_id=lambda n, _: f"O{n:03d}", status="PAID").generate(7)
    return fake


def _page(fake: PagedMarketplace, page: int, size: int) -> httpx.Response:
    with httpx.Client(transport=fake.transport(), base_url="http://fake") as client:
        return client.get("/orders", params={"page": page, "size": size})


def test_a_forced_page_size_refuses_larger_pages_and_can_be_lifted(
    fake: PagedMarketplace,
) -> None:
    assert _page(fake, 0, DOCUMENTED).status_code == 200
    fake.force_page_size(3)
    assert fake.page_size_limit(DOCUMENTED) == 3
    assert _page(fake, 0, 4).status_code == 400
    assert _page(fake, 0, 3).json()["ids"] == ["O001", "O002", "O003"]
    fake.force_page_size(None)
    assert fake.page_size_limit(DOCUMENTED) == DOCUMENTED
    with pytest.raises(ValueError, match="at least 1"):
        fake.force_page_size(0)


def test_a_forced_size_never_raises_the_documented_maximum(fake: PagedMarketplace) -> None:
    fake.force_page_size(50)
    assert fake.page_size_limit(DOCUMENTED) == DOCUMENTED


def test_page_hooks_see_each_page_after_it_is_answered_and_may_change_records(
    fake: PagedMarketplace, clock: FakeClock
) -> None:
    seen: list[PageServed] = []

    def ship_the_page(page: PageServed) -> None:
        seen.append(page)
        clock.advance(1)
        for order_id in page.keys:
            fake.change_order(order_id, OrderChange.TOUCHED)

    fake.on_page(ship_the_page)
    first = _page(fake, 0, 3).json()["ids"]
    second = _page(fake, 1, 3).json()["ids"]
    # The first page's orders moved to the end: reading forward skipped O004-O006.
    assert first == ["O001", "O002", "O003"]
    assert second == ["O007", "O001", "O002"]
    assert [(p.kind, p.keys, p.number) for p in seen] == [
        (PageKind.ORDERS, ("O001", "O002", "O003"), 1),
        (PageKind.ORDERS, ("O007", "O001", "O002"), 2),
    ]
    fake.clear_page_hooks()
    _page(fake, 0, 3)
    assert len(seen) == 2
    assert fake.pages_served[PageKind.ORDERS] == 3


def test_empty_pages_call_hooks_but_are_not_counted(fake: PagedMarketplace) -> None:
    seen: list[PageServed] = []
    fake.on_page(seen.append)
    _page(fake, 5, 3)
    assert seen[0].keys == ()
    assert fake.pages_served[PageKind.ORDERS] == 0


def test_an_order_change_moves_the_modified_time_and_is_announced(
    fake: PagedMarketplace, clock: FakeClock
) -> None:
    heard: list[FakeChange] = []
    fake.store.on_change(heard.append)
    clock.advance(60)
    order = fake.change_order("O002", OrderChange.CANCELLED)
    assert order.status == "CLOSED"
    assert order.modified == clock.now()
    fake.change_order("O003", OrderChange.TOUCHED)
    assert fake.store.orders["O003"].status == "PAID"
    assert [(c.key, c.change) for c in heard] == [("O002", "cancelled"), ("O003", "updated")]


def test_changes_a_fake_does_not_offer_are_refused_by_name(fake: PagedMarketplace) -> None:
    with pytest.raises(UnsupportedChange, match="'shipped'"):
        fake.change_order("O001", OrderChange.SHIPPED)
    with pytest.raises(KeyError, match="no order 'O999'"):
        fake.change_order("O999", OrderChange.TOUCHED)
    with pytest.raises(UnsupportedChange, match="cancelled"):
        fake.change_refund(fake.open_refund("O001").refund_id, RefundChange.CANCELLED)


def test_a_fake_without_refunds_refuses_to_open_one(clock: FakeClock) -> None:
    class NoRefunds(PagedMarketplace):
        refund_changes: ClassVar[frozenset[RefundChange]] = frozenset()

    fake = NoRefunds(clock=clock)
    fake.store.add_order(FakeOrder("O1", "PAID", START, START, lines=[], total=Decimal("1.00")))
    with pytest.raises(UnsupportedChange, match="serves no refunds"):
        fake.open_refund("O1")


def test_refunds_open_and_settle_with_their_modified_time(
    fake: PagedMarketplace, clock: FakeClock
) -> None:
    refund = fake.open_refund("O001")
    assert refund.status == "OPEN"
    clock.advance(30)
    settled = fake.change_refund(refund.refund_id, RefundChange.REFUNDED)
    assert settled.status == "PAID_BACK"
    assert settled.modified == clock.now()


def test_listing_status_and_price_changed_in_the_back_office(
    fake: PagedMarketplace, clock: FakeClock
) -> None:
    heard: list[str] = []
    fake.store.on_change(lambda change: heard.append(change.change))
    clock.advance(5)
    item = fake.set_on_sale("I1", on_sale=False)
    assert not item.on_sale
    assert item.modified == clock.now()
    sku = fake.set_price("S1", Decimal("12.34"))
    assert sku.price == Decimal("12.34")
    assert heard == ["delisted", "updated"]
    with pytest.raises(KeyError):
        fake.set_price("S9", Decimal("1"))
