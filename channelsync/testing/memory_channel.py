"""An in-memory channel implementing every capability, with the marketplaces' failure modes.

:class:`MemoryChannel` keeps listings, orders and shipments in memory and behaves as
a marketplace does where it matters to the engine: a buyer's order lowers the shown
stock at once (before the order is pulled), orders are read by modified time inside
the declared window rules, batches answer one result per item, one item of a batch
can be rejected, a whole call can be throttled or fail transiently, an answer can be
lost after the change was applied, and confirming an order shipped twice answers
"already shipped". Refunds are read by modified time like orders, and the shop can
count the orders created in a window (an order can be hidden from pulls while still
counted, as a marketplace's lagging search index does). Every call is logged in
:attr:`MemoryChannel.calls`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from channelsync.channels import (
    Channel,
    ChannelLimits,
    ChannelSettings,
    InventoryCapability,
    ListingsCapability,
    Operation,
    OrderCountCapability,
    OrdersCapability,
    OrderWindow,
    PricingCapability,
    RefundsCapability,
    ShipmentsCapability,
    TimeWindow,
)
from channelsync.clock import Clock, FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import (
    ChannelError,
    ChannelNotOpenError,
    ConflictError,
    NotFoundError,
)
from channelsync.models import (
    Carrier,
    Listing,
    ListingStatus,
    ListingStatusChange,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    PriceChange,
    Refund,
    RefundLine,
    RefundStatus,
    Shipment,
    ShipmentResult,
    StockUpdate,
    StockUpdateMode,
    UpdateResult,
)

__all__ = ["MemoryChannel", "MemoryListing"]


@dataclass
class MemoryListing:
    """One listing as the in-memory marketplace holds it."""

    item_id: str
    sku_id: str | None
    merchant_code: str | None
    title: str
    quantity: int
    price: Money | None = None
    status: ListingStatus = ListingStatus.ON_SALE


@dataclass
class _Rejection:
    message: str
    retryable: bool
    times: int | None
    code: str | None = None


@dataclass
class _CallFault:
    error: ChannelError
    times: int
    after_apply: bool = False


class MemoryChannel(
    Channel[ChannelSettings],
    ListingsCapability,
    InventoryCapability,
    PricingCapability,
    OrdersCapability,
    OrderCountCapability,
    ShipmentsCapability,
    RefundsCapability,
):
    """A marketplace in memory, for engine tests, demos and benchmarks."""

    type_name: ClassVar[str] = "memory"
    display_name: ClassVar[str] = "In-memory marketplace"
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        batch_sizes={
            Operation.SET_STOCK: 50,
            Operation.SET_PRICE: 50,
            Operation.SET_LISTING_STATUS: 20,
            Operation.PULL_ORDERS: 100,
        },
        order_window=OrderWindow(max_span=timedelta(days=1), overlap=timedelta(minutes=5)),
        carrier_codes={carrier: carrier.value.upper() for carrier in Carrier},
    )

    def __init__(self, name: str = "memory", *, clock: Clock | None = None) -> None:
        store = CredentialStore(backend=MemorySecretBackend(), environ={})
        super().__init__(
            name, ChannelSettings(), store.for_channel(name), clock=clock or FakeClock()
        )
        self.listings: dict[tuple[str, str | None], MemoryListing] = {}
        self.orders: dict[str, Order] = {}
        self.shipments: list[Shipment] = []
        self.refunds: dict[str, Refund] = {}
        self.hidden_orders: set[str] = set()
        """Orders the shop counts but its order search does not return."""
        self.calls: list[tuple[str, int]] = []
        self._rejections: dict[str, _Rejection] = {}
        self._faults: dict[str, list[_CallFault]] = {}
        self._opened = False
        self._order_seq = 0
        self._refund_seq = 0

    # -- lifecycle: nothing to connect to ---------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the channel is inside ``async with``."""
        return self._opened

    async def open(self) -> None:
        """Open the channel (no transport is needed)."""
        self._opened = True

    async def close(self) -> None:
        """Close the channel."""
        self._opened = False

    def _call(self, operation: str, size: int = 1) -> None:
        if not self._opened:
            raise ChannelNotOpenError(
                f"channel {self.name!r} is not open: use `async with channel:` before calling it"
            )
        self.calls.append((operation, size))
        faults = self._faults.get(operation)
        if faults and not faults[0].after_apply:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            raise fault.error.with_context(channel=self.name, operation=operation)

    def _after_apply(self, operation: str) -> None:
        faults = self._faults.get(operation)
        if faults and faults[0].after_apply:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            raise fault.error.with_context(channel=self.name, operation=operation)

    # -- test controls --------------------------------------------------------------------

    def add_listing(
        self,
        item_id: str,
        merchant_code: str | None,
        *,
        sku_id: str | None = None,
        quantity: int = 0,
        title: str | None = None,
        price: Money | None = None,
    ) -> MemoryListing:
        """Create a listing in the shop (as a merchant would in the back office)."""
        listing = MemoryListing(
            item_id, sku_id, merchant_code, title or merchant_code or item_id, quantity, price
        )
        self.listings[(item_id, sku_id)] = listing
        return listing

    def listing(self, merchant_code: str) -> MemoryListing:
        """Return the listing carrying ``merchant_code``."""
        for listing in self.listings.values():
            if listing.merchant_code == merchant_code:
                return listing
        raise KeyError(merchant_code)

    def reject(
        self,
        merchant_code: str,
        message: str,
        *,
        retryable: bool = False,
        times: int | None = None,
        code: str | None = None,
    ) -> None:
        """Reject updates for one SKU inside batches (``times`` ``None``: always)."""
        self._rejections[merchant_code] = _Rejection(message, retryable, times, code)

    def fail_calls(
        self,
        operation: Operation,
        error: ChannelError,
        *,
        times: int = 1,
        after_apply: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``error``.

        ``after_apply`` raises after the change was made: the answer is lost, as when a
        connection drops between the marketplace applying a request and replying.
        """
        self._faults.setdefault(operation.value, []).append(_CallFault(error, times, after_apply))

    def place_order(
        self,
        lines: Sequence[tuple[str, int]],
        *,
        order_id: str | None = None,
        status: OrderStatus = OrderStatus.PAID,
        unit_price: str = "10.00",
        currency: str = "CNY",
    ) -> Order:
        """Place a buyer's order of ``(merchant_code, quantity)`` lines; shown stock drops now."""
        self._order_seq += 1
        now = self.clock.now()
        order_lines = []
        for code, quantity in lines:
            listing = self.listing(code)
            listing.quantity = max(0, listing.quantity - quantity)
            order_lines.append(
                OrderLine(
                    item_id=listing.item_id,
                    sku_id=listing.sku_id,
                    merchant_code=code,
                    quantity=quantity,
                    unit_price=Money.of(unit_price, currency),
                )
            )
        total = sum((line.total for line in order_lines), Money.zero(currency))
        order = Order(
            channel=self.name,
            order_id=order_id or f"{self.name}-{self._order_seq}",
            status=status,
            raw_status=status.value,
            created_at=now,
            updated_at=now,
            paid_at=now if status is not OrderStatus.PENDING_PAYMENT else None,
            lines=tuple(order_lines),
            total=total,
        )
        self.orders[order.order_id] = order
        return order

    def set_order_status(self, order_id: str, status: OrderStatus, **changes: Any) -> Order:
        """Move an order to ``status`` now (cancelling gives its units back to the shop)."""
        order = self.orders[order_id]
        if status is OrderStatus.CANCELLED and not order.status.is_final:
            for line in order.lines:
                key = (line.item_id, line.sku_id)
                if key in self.listings:
                    self.listings[key].quantity += line.quantity
        updated = order.model_copy(
            update={
                "status": status,
                "raw_status": status.value,
                "updated_at": max(self.clock.now(), order.updated_at),
                **changes,
            }
        )
        self.orders[order_id] = updated
        return updated

    def request_refund(
        self,
        order_id: str,
        lines: Sequence[tuple[str, int]] = (),
        *,
        returns_goods: bool = False,
        status: RefundStatus = RefundStatus.REQUESTED,
        refund_id: str | None = None,
    ) -> Refund:
        """Open a refund on an order for ``(merchant_code, quantity)`` lines (empty: unsaid)."""
        order = self.orders[order_id]
        self._refund_seq += 1
        now = self.clock.now()
        refund_lines = []
        for code, quantity in lines:
            line = next(x for x in order.lines if x.merchant_code == code)
            refund_lines.append(
                RefundLine(
                    item_id=line.item_id,
                    sku_id=line.sku_id,
                    merchant_code=code,
                    quantity=quantity,
                )
            )
        amount = sum(
            (x.unit_price * q for x in order.lines for code, q in lines if x.merchant_code == code),
            Money.zero(order.total.currency),
        )
        refund = Refund(
            channel=self.name,
            refund_id=refund_id or f"{self.name}-r{self._refund_seq}",
            order_id=order_id,
            status=status,
            raw_status=status.value,
            amount=amount if lines else order.total,
            created_at=now,
            updated_at=now,
            lines=tuple(refund_lines),
            returns_goods=returns_goods,
        )
        self.refunds[refund.refund_id] = refund
        return refund

    def set_refund_status(self, refund_id: str, status: RefundStatus) -> Refund:
        """Move a refund to ``status`` now."""
        refund = self.refunds[refund_id]
        updated = refund.model_copy(
            update={
                "status": status,
                "raw_status": status.value,
                "updated_at": max(self.clock.now(), refund.updated_at),
            }
        )
        self.refunds[refund_id] = updated
        return updated

    # -- listings -------------------------------------------------------------------------

    async def iter_listings(self) -> AsyncIterator[Listing]:
        """Yield every listing."""
        self._call(Operation.LIST_LISTINGS.value)
        for listing in list(self.listings.values()):
            yield Listing(
                channel=self.name,
                item_id=listing.item_id,
                sku_id=listing.sku_id,
                merchant_code=listing.merchant_code,
                title=listing.title,
                price=listing.price,
                quantity=listing.quantity,
                status=listing.status,
                raw_status=listing.status.value,
            )

    async def send_listing_status_batch(
        self, batch: Sequence[ListingStatusChange]
    ) -> list[UpdateResult]:
        """Apply status changes."""
        self._call(Operation.SET_LISTING_STATUS.value, len(batch))
        results = []
        for change in batch:
            result = self._item_result(change)
            if result.ok:
                self.listings[change.key].status = change.status
            results.append(result)
        self._after_apply(Operation.SET_LISTING_STATUS.value)
        return results

    # -- stock and price ------------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Apply stock updates (absolute quantities)."""
        self._call(Operation.SET_STOCK.value, len(batch))
        results = []
        for update in batch:
            result = self._item_result(update)
            if result.ok:
                listing = self.listings[update.key]
                if update.mode is StockUpdateMode.ABSOLUTE:
                    listing.quantity = update.quantity
                else:
                    listing.quantity = max(0, listing.quantity + update.quantity)
            results.append(result)
        self._after_apply(Operation.SET_STOCK.value)
        return results

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Apply price changes."""
        self._call(Operation.SET_PRICE.value, len(batch))
        results = []
        for change in batch:
            result = self._item_result(change)
            if result.ok:
                self.listings[change.key].price = change.price
            results.append(result)
        self._after_apply(Operation.SET_PRICE.value)
        return results

    def _item_result(self, update: StockUpdate | PriceChange | ListingStatusChange) -> UpdateResult:
        if update.key not in self.listings:
            return UpdateResult.failure(update, "no such listing", code="not_found")
        rejection = self._rejections.get(update.merchant_code or "")
        if rejection is None:
            return UpdateResult.success(update)
        if rejection.times is not None:
            rejection.times -= 1
            if rejection.times <= 0:
                del self._rejections[update.merchant_code or ""]
        return UpdateResult.failure(
            update, rejection.message, code=rejection.code, retryable=rejection.retryable
        )

    # -- orders ---------------------------------------------------------------------------

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield orders modified inside ``window``."""
        self._call(Operation.PULL_ORDERS.value)
        for order in sorted(self.orders.values(), key=lambda o: (o.updated_at, o.order_id)):
            hidden = order.order_id in self.hidden_orders
            if window.start <= order.updated_at < window.end and not hidden:
                yield order

    async def count_orders(self, window: TimeWindow) -> int:
        """Return how many orders were created inside ``window`` (hidden ones included)."""
        self._call("orders.count")
        return sum(1 for o in self.orders.values() if window.start <= o.created_at < window.end)

    # -- refunds --------------------------------------------------------------------------

    async def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Refund]:
        """Yield refunds modified inside ``window``."""
        self._call(Operation.PULL_REFUNDS.value)
        for refund in sorted(self.refunds.values(), key=lambda r: (r.updated_at, r.refund_id)):
            if window.start <= refund.updated_at < window.end:
                yield refund

    async def get_order(self, order_id: str) -> Order:
        """Return one order."""
        self._call(Operation.GET_ORDER.value)
        if order_id not in self.orders:
            raise NotFoundError(f"order {order_id} does not exist", channel=self.name)
        return self.orders[order_id]

    # -- shipments ------------------------------------------------------------------------

    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Confirm an order shipped."""
        self._call(Operation.PUSH_SHIPMENT.value)
        self.carrier_code(shipment.carrier)
        order = self.orders.get(shipment.order_id)
        if order is None:
            raise NotFoundError(f"order {shipment.order_id} does not exist", channel=self.name)
        if order.status in {OrderStatus.SHIPPED, OrderStatus.COMPLETED}:
            return ShipmentResult(order_id=order.order_id, already_shipped=True)
        if order.on_hold or not order.status.awaits_shipment:
            raise ConflictError(
                f"order {order.order_id} cannot ship in status {order.status.value}"
                + (" (on hold)" if order.on_hold else ""),
                channel=self.name,
            )
        self.shipments.append(shipment)
        self.set_order_status(order.order_id, OrderStatus.SHIPPED)
        self._after_apply(Operation.PUSH_SHIPMENT.value)
        return ShipmentResult(order_id=order.order_id, marketplace_ref=f"S{len(self.shipments)}")
