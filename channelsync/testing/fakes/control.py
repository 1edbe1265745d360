"""The control surface of a fake marketplace: what a test drives besides buyers' orders.

A test (the channel contract above all) changes a fake's state the way the
marketplace, its buyers and the shop's staff do: an order is cancelled, shipped or
refunded, a refund is settled, an item is delisted in the back office, a price is
changed by hand. It also forces the conditions that make paging bugs visible: a
small page size, and changes between the pages of one read.

The vocabulary is marketplace-neutral. A fake says which changes it can make
(:attr:`ControlSurface.order_changes`, :attr:`ControlSurface.refund_changes`) and
renders each in its own status strings by overriding the ``apply_*`` methods; this
class keeps the bookkeeping every fake shares (the modified time, the change
announcement, the lock). A fake reports each page it serves with
:meth:`ControlSurface.page_served` and bounds its page sizes with
:meth:`ControlSurface.page_size_limit`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from channelsync.clock import Clock
from channelsync.testing.fakes.state import FakeItem, FakeOrder, FakeRefund, FakeSku, FakeStore

__all__ = [
    "ControlSurface",
    "OrderChange",
    "PageHook",
    "PageKind",
    "PageServed",
    "RefundChange",
    "UnsupportedChange",
]


class OrderChange(StrEnum):
    """Something that happens to a paid order after it was placed.

    Each value names the canonical state the order is in afterwards, except
    :attr:`TOUCHED`, which changes the order without a new status.
    """

    #: Changed without a new status (the buyer edited the address, staff added a note).
    TOUCHED = "touched"
    #: Shipped in full from the marketplace's back office.
    SHIPPED = "shipped"
    #: Shipped, and the buyer confirmed receipt: the order is finished.
    COMPLETED = "completed"
    #: Cancelled before it shipped (by the buyer, the marketplace or the shop).
    CANCELLED = "cancelled"
    #: The buyer asked for a refund of (part of) the order; the case is open.
    REFUND_REQUESTED = "refund_requested"
    #: Refunded in full: the order is closed.
    REFUNDED = "refunded"


class RefundChange(StrEnum):
    """What happens to an open refund case; each value names the canonical state after it."""

    APPROVED = "approved"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class PageKind(StrEnum):
    """What a paged read lists."""

    ORDERS = "orders"
    REFUNDS = "refunds"
    LISTINGS = "listings"


@dataclass(frozen=True)
class PageServed:
    """One page a fake answered: what it lists, the call, the records' keys, its ordinal."""

    kind: PageKind
    operation: str
    keys: tuple[str, ...]
    #: How many pages of this kind holding records the fake has served so far.
    number: int


PageHook = Callable[[PageServed], None]


class UnsupportedChange(ValueError):
    """A fake was asked for a change its marketplace cannot make (or it does not model)."""


class ControlSurface:
    """The controls every fake marketplace offers tests; mixed into ``FakeMarketplace``.

    A fake overrides :meth:`apply_order_change` (and declares :attr:`order_changes`),
    the refund methods when it serves refunds, and :meth:`apply_listing_status` /
    :meth:`apply_price` when its records keep more than ``on_sale`` and ``price``.
    """

    #: The order changes this fake can make (``TOUCHED`` needs nothing from the fake).
    order_changes: ClassVar[frozenset[OrderChange]] = frozenset({OrderChange.TOUCHED})
    #: The refund changes this fake can make; empty when it serves no refunds.
    refund_changes: ClassVar[frozenset[RefundChange]] = frozenset()

    clock: Clock
    store: FakeStore

    def _init_control(self) -> None:
        self.forced_page_size: int | None = None
        #: Pages served so far that held at least one record, by kind.
        self.pages_served: Counter[PageKind] = Counter()
        self._page_hooks: list[PageHook] = []

    # -- paging -------------------------------------------------------------------------

    def force_page_size(self, size: int | None) -> None:
        """Serve pages of at most ``size`` records from now on (``None``: the documented sizes).

        The fake answers a request for a larger page the way its marketplace answers
        a page size over the documented maximum; a channel that pages with the sizes it
        declares in its limits is unaffected.
        """
        if size is not None and size < 1:
            raise ValueError(f"a forced page size must be at least 1, got {size}")
        self.forced_page_size = size

    def page_size_limit(self, documented: int) -> int:
        """Return the largest page to serve: ``documented``, or the forced size when smaller."""
        if self.forced_page_size is None:
            return documented
        return min(documented, self.forced_page_size)

    def on_page(self, hook: PageHook) -> None:
        """Call ``hook`` after every page served (under the store's lock: it may change records).

        This is how a test changes records between the pages of one read.
        """
        with self.store.lock:
            self._page_hooks.append(hook)

    def clear_page_hooks(self) -> None:
        """Remove every hook added with :meth:`on_page`."""
        with self.store.lock:
            self._page_hooks.clear()

    def page_served(self, kind: PageKind, operation: str, keys: Sequence[str]) -> None:
        """Record a page just answered (a fake calls this from its list handlers)."""
        with self.store.lock:
            if keys:
                self.pages_served[kind] += 1
            served = PageServed(kind, operation, tuple(keys), self.pages_served[kind])
            for hook in list(self._page_hooks):
                hook(served)

    # -- orders -------------------------------------------------------------------------

    def change_order(self, order_id: str, change: OrderChange) -> FakeOrder:
        """Apply ``change`` to an order now, as the marketplace records it.

        The fake writes its own status (:meth:`apply_order_change`); the modified time
        moves to now and the change is announced to the store's listeners.
        """
        with self.store.lock:
            order = self.store.orders.get(order_id)
            if order is None:
                raise KeyError(f"{type(self).__name__} has no order {order_id!r}")
            if change not in self.order_changes:
                raise UnsupportedChange(
                    f"{type(self).__name__} cannot make the order change {change.value!r}; "
                    f"it offers {sorted(c.value for c in self.order_changes)}"
                )
            if change is not OrderChange.TOUCHED:
                self.apply_order_change(order, change)
            order.modified = self.clock.now()
            self.store.changed(order, "updated" if change is OrderChange.TOUCHED else change.value)
            return order

    def apply_order_change(self, order: FakeOrder, change: OrderChange) -> None:
        """Write ``change`` into ``order`` in the marketplace's terms (status, sub-orders).

        The modified time is set afterwards by :meth:`change_order`.
        """
        raise UnsupportedChange(f"{type(self).__name__} does not model order changes")

    # -- refunds ------------------------------------------------------------------------

    def open_refund(self, order_id: str) -> FakeRefund:
        """Open a refund case on an order (its first line), as its buyer does."""
        with self.store.lock:
            order = self.store.orders.get(order_id)
            if order is None:
                raise KeyError(f"{type(self).__name__} has no order {order_id!r}")
            if not self.refund_changes:
                raise UnsupportedChange(f"{type(self).__name__} serves no refunds")
            return self.create_refund(order)

    def create_refund(self, order: FakeOrder) -> FakeRefund:
        """Create and store a refund request on ``order`` (a fake serving refunds overrides)."""
        raise UnsupportedChange(f"{type(self).__name__} serves no refunds")

    def change_refund(self, refund_id: str, change: RefundChange) -> FakeRefund:
        """Move a refund case on as the shop, the buyer or the marketplace does."""
        with self.store.lock:
            refund = self.store.refunds.get(refund_id)
            if refund is None:
                raise KeyError(f"{type(self).__name__} has no refund {refund_id!r}")
            if change not in self.refund_changes:
                raise UnsupportedChange(
                    f"{type(self).__name__} cannot make the refund change {change.value!r}"
                )
            self.apply_refund_change(refund, change)
            refund.modified = self.clock.now()
            self.store.changed(refund, change.value)
            return refund

    def apply_refund_change(self, refund: FakeRefund, change: RefundChange) -> None:
        """Write ``change`` into ``refund`` (and its order) in the marketplace's terms."""
        raise UnsupportedChange(f"{type(self).__name__} serves no refunds")

    # -- listings -----------------------------------------------------------------------

    def set_on_sale(self, item_id: str, on_sale: bool) -> FakeItem:
        """List or delist an item from the back office (not through the API)."""
        with self.store.lock:
            item = self.store.items.get(item_id)
            if item is None:
                raise KeyError(f"{type(self).__name__} has no item {item_id!r}")
            self.apply_listing_status(item, on_sale)
            item.modified = self.clock.now()
            self.store.changed(item, "listed" if on_sale else "delisted")
            return item

    def apply_listing_status(self, item: FakeItem, on_sale: bool) -> None:
        """Write the on-sale state into ``item`` (override when the fake keeps more)."""
        item.on_sale = on_sale

    def set_price(self, sku_id: str, price: Decimal) -> FakeSku:
        """Change a SKU's price from the back office (not through the API)."""
        with self.store.lock:
            found = self.store.find_sku(sku_id)
            if found is None:
                raise KeyError(f"{type(self).__name__} has no SKU {sku_id!r}")
            item, sku = found
            self.apply_price(item, sku, price)
            item.modified = self.clock.now()
            self.store.changed(item, "updated")
            return sku

    def apply_price(self, item: FakeItem, sku: FakeSku, price: Decimal) -> None:
        """Write ``price`` into the SKU (override when the fake keeps more, e.g. item price)."""
        sku.price = price
