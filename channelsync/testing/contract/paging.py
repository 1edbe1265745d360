"""Promises about paged reads: complete however many pages, and consistent while records change.

Each check forces small pages (:meth:`ContractHarness.force_small_pages`), so a
handful of records fills several pages, and first makes sure the read really took
several pages. Record counts are chosen so that no window holds a whole number of
pages: a reader that drops a partly filled last page loses records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta

from channelsync.channels import Capability
from channelsync.testing.contract.base import (
    Promise,
    first_cursor,
    generate_rounds,
    read_listings,
)
from channelsync.testing.contract.harness import ContractHarness
from channelsync.testing.fakes import OrderChange, PageKind, PageServed, RefundChange

__all__ = [
    "ListingReadIsComplete",
    "OrderPullIsComplete",
    "PagesStayConsistentWhileOrdersChange",
    "PagesStayConsistentWhileRefundsChange",
    "RefundPullIsComplete",
]

#: Orders per round for the completeness checks: no window of them fills whole pages of 4.
_COMPLETE_ROUNDS = (7, 6, 9)
#: Orders placed at one moment while records change between pages (not whole pages).
_MID_READ_ORDERS = 17
#: Records changed in all: every record of each page served, until this many changed.
_CHANGES = 12
_SECOND = timedelta(seconds=1)

_PAGING_FIX = (
    "follow every page of a window with the page size you declare in "
    "limits.batch_sizes (check the last-page test: count pages from the total with "
    "math.ceil, or follow the next-page token until there is none); page numbers start "
    "where the marketplace's do."
)
_MID_READ_FIX = (
    "a record that changes while a window is read leaves the window and shifts the "
    "records behind it one place forward: read the pages from the last to the first, "
    "then the first page again (or use the marketplace's keyset or next-token paging); "
    "never stop at an empty page while reading backwards."
)


class OrderPullIsComplete(Promise):
    """A pull from a cursor until caught up returns every order changed since, on every page.

    Pages are forced small, so each window spans several pages, some only partly filled.
    """

    capability = Capability.ORDERS
    fix = _PAGING_FIX + " A window is half-open, [start, end)."

    async def check(self, h: ContractHarness) -> None:
        """Generate rounds of orders and pull them all at a small page size."""
        h.force_small_pages()
        generated = set(generate_rounds(h, _COMPLETE_ROUNDS))
        before = h.pages_served(PageKind.ORDERS)
        async with h.channel() as channel:
            orders, _ = await h.pull_all(channel, first_cursor(h))
        h.expect_pages(PageKind.ORDERS, before, len(generated))
        pulled = {order.order_id for order in orders}
        missing = sorted(generated - pulled)
        h.expect(
            not missing,
            f"{len(missing)} of {len(generated)} orders missing at {h.page_size} orders a "
            f"page: {missing[:5]}",
        )
        unknown = sorted(pulled - set(h.fake.store.orders))
        h.expect(not unknown, f"orders the marketplace does not have: {unknown[:5]}")


def _changer(
    h: ContractHarness, kind: PageKind, change: Callable[[str], None], known: Callable[[str], bool]
) -> list[str]:
    """Change the records of each page of ``kind`` served from now on; return their keys."""
    changed: list[str] = []

    def between_pages(page: PageServed) -> None:
        if page.kind is not kind:
            return
        for key in page.keys:
            if len(changed) < _CHANGES and key not in changed and known(key):
                change(key)
                changed.append(key)

    h.fake.on_page(between_pages)
    return changed


class PagesStayConsistentWhileOrdersChange(Promise):
    """Orders that change while a window's pages are read cost no other order its place.

    Between the pages of one read, the orders on the page just served change (they
    leave the window, as staff ship what they were handed); every other order is still
    pulled, and the changed ones come back with their new state on the next pull from
    the stored cursor.
    """

    capability = Capability.ORDERS
    fix = _MID_READ_FIX

    async def check(self, h: ContractHarness) -> None:
        """Pull at a small page size, changing orders after each page; pull again."""
        h.force_small_pages()
        generated = _one_window_of_orders(h)
        before = h.pages_served(PageKind.ORDERS)
        changed = _changer(
            h,
            PageKind.ORDERS,
            lambda key: _touch_order(h, key),
            lambda key: key in h.fake.store.orders,
        )
        async with h.channel() as channel:
            first, cursor = await h.pull_all(channel, first_cursor(h))
            h.fake.clear_page_hooks()
            h.expect_pages(PageKind.ORDERS, before, len(generated))
            h.expect(bool(changed), "no order changed between pages (does the fake report keys?)")
            h.past_the_horizon()
            second, _ = await h.pull_all(channel, cursor)
        seen = {order.order_id for order in [*first, *second]}
        lost = [order_id for order_id in generated if order_id not in seen]
        h.expect(
            not lost,
            f"{len(lost)} of {len(generated)} orders were never pulled while {len(changed)} "
            f"others changed between the pages of one read: {lost[:5]}",
        )
        latest = {order.order_id: order for order in second}
        for order_id in changed:
            modified = h.fake.store.orders[order_id].modified
            order = latest.get(order_id)
            h.expect(
                order is not None and abs(order.updated_at - modified) < _SECOND,
                f"order {order_id} changed at {modified.isoformat()} during a read, but the "
                "next pull from the stored cursor did not return its new state",
            )


def _one_window_of_orders(h: ContractHarness) -> list[str]:
    """Generate orders at one moment read by one window alone, old enough for the overlap.

    An order lost there stays lost: the next pull starts an overlap before the cursor,
    after these orders.
    """
    h.quiet_moment(first_cursor(h).since)
    generated = generate_rounds(h, [_MID_READ_ORDERS])
    h.advance(h.channel_class.limits.order_window.overlap.total_seconds())
    return generated


def _touch_order(h: ContractHarness, order_id: str) -> None:
    h.fake.change_order(order_id, OrderChange.TOUCHED)


def _open_refunds(h: ContractHarness, sizes: Sequence[int]) -> list[str]:
    """Open ``sizes[i]`` refunds in round ``i`` (on fresh orders); return the refund ids."""
    orders = [order.order_id for order in h.generate_orders(sum(sizes))]
    h.expect(len(orders) == sum(sizes), "the fake generated too few orders to refund")
    ids: list[str] = []
    position = 0
    for size in sizes:
        for order_id in orders[position : position + size]:
            ids.append(h.fake.open_refund(order_id).refund_id)
        position += size
        h.advance(timedelta(minutes=10).total_seconds())
    h.past_the_horizon()
    return ids


def _a_refund_change(h: ContractHarness) -> RefundChange:
    changes = sorted(h.fake.refund_changes)
    h.expect(
        bool(changes),
        f"{type(h.fake).__name__} offers no refund changes: declare refund_changes and "
        "implement create_refund and apply_refund_change",
    )
    return changes[0]


class RefundPullIsComplete(Promise):
    """A refund pull from a cursor until caught up returns every refund changed since.

    Pages are forced small, so each window spans several pages.
    """

    capability = Capability.REFUNDS
    fix = _PAGING_FIX

    async def check(self, h: ContractHarness) -> None:
        """Open rounds of refunds and pull them all at a small page size."""
        _a_refund_change(h)
        h.force_small_pages()
        opened = set(_open_refunds(h, _COMPLETE_ROUNDS))
        before = h.pages_served(PageKind.REFUNDS)
        async with h.channel() as channel:
            refunds, _ = await h.pull_all_refunds(channel, first_cursor(h))
        h.expect_pages(PageKind.REFUNDS, before, len(opened))
        pulled = {refund.refund_id for refund in refunds}
        missing = sorted(opened - pulled)
        h.expect(
            not missing,
            f"{len(missing)} of {len(opened)} refunds missing at {h.page_size} a page: "
            f"{missing[:5]}",
        )


class PagesStayConsistentWhileRefundsChange(Promise):
    """Refunds that change while a window's pages are read cost no other refund its place."""

    capability = Capability.REFUNDS
    fix = _MID_READ_FIX

    async def check(self, h: ContractHarness) -> None:
        """Pull refunds at a small page size, settling some after each page; pull again."""
        change = _a_refund_change(h)
        h.force_small_pages()
        orders = [order.order_id for order in h.generate_orders(_MID_READ_ORDERS)]
        h.expect(len(orders) == _MID_READ_ORDERS, "the fake generated too few orders to refund")
        h.quiet_moment(first_cursor(h).since)
        opened = [h.fake.open_refund(order_id).refund_id for order_id in orders]
        h.past_the_horizon()
        h.advance(h.channel_class.limits.order_window.overlap.total_seconds())
        before = h.pages_served(PageKind.REFUNDS)
        changed = _changer(
            h,
            PageKind.REFUNDS,
            lambda key: _settle(h, key, change),
            lambda key: key in h.fake.store.refunds,
        )
        async with h.channel() as channel:
            first, cursor = await h.pull_all_refunds(channel, first_cursor(h))
            h.fake.clear_page_hooks()
            h.expect_pages(PageKind.REFUNDS, before, len(opened))
            h.expect(bool(changed), "no refund changed between pages (does the fake report keys?)")
            h.past_the_horizon()
            second, _ = await h.pull_all_refunds(channel, cursor)
        seen = {refund.refund_id for refund in [*first, *second]}
        lost = [refund_id for refund_id in opened if refund_id not in seen]
        h.expect(
            not lost,
            f"{len(lost)} of {len(opened)} refunds were never pulled while {len(changed)} "
            f"others changed between the pages of one read: {lost[:5]}",
        )
        latest = {refund.refund_id: refund for refund in second}
        for refund_id in changed:
            refund = latest.get(refund_id)
            h.expect(
                refund is not None and refund.status.value == change.value,
                f"refund {refund_id} became {change.value} during a read, but the next pull "
                f"returned {refund.status.value if refund else 'nothing'} for it",
            )


def _settle(h: ContractHarness, refund_id: str, change: RefundChange) -> None:
    h.fake.change_refund(refund_id, change)


class ListingReadIsComplete(Promise):
    """Reading listings returns every SKU of the shop once, however many pages it takes."""

    capability = Capability.LISTINGS
    fix = _PAGING_FIX

    async def check(self, h: ContractHarness) -> None:
        """Read every listing at a small page size."""
        h.force_small_pages()
        before = h.pages_served(PageKind.LISTINGS)
        async with h.channel() as channel:
            listings = await read_listings(channel)
        expected = {sku.merchant_code for _, sku in h.fake.store.iter_skus() if sku.merchant_code}
        h.expect_pages(PageKind.LISTINGS, before, len(expected))
        read = Counter(listing.merchant_code for listing in listings if listing.merchant_code)
        missing = sorted(expected - set(read))
        h.expect(
            not missing,
            f"{len(missing)} of {len(expected)} SKUs not read at {h.page_size} a page: "
            f"{missing[:5]}",
        )
        twice = sorted(code for code, count in read.items() if count > 1)
        h.expect(not twice, f"SKUs read more than once: {twice[:5]}")
