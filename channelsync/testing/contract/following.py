"""Promises that the channel follows the marketplace: what changes there is read back changed.

An order is cancelled, shipped or refunded on the marketplace, a refund is settled,
an item is delisted or repriced in the back office: the change is made through the
fake's control surface, and the channel must read it back, on the next incremental
pull from the stored cursor where there is one. The records changed were created
hours earlier, so a pull that looks at creation times instead of modification times
never sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from channelsync.channels import Capability
from channelsync.models import Listing, ListingStatus, OrderStatus, RefundStatus
from channelsync.testing.contract.base import Promise, first_cursor, read_listings
from channelsync.testing.contract.harness import ContractHarness
from channelsync.testing.fakes import FakeItem, OrderChange

__all__ = [
    "ChangedOldOrderComesBack",
    "ListingPriceFollowsTheMarketplace",
    "ListingStatusFollowsTheMarketplace",
    "OrderStatusFollowsTheMarketplace",
    "RefundStatusFollowsTheMarketplace",
]

#: How long before the change the changed records were created: past any window and overlap.
_AGE = timedelta(hours=3)
_SECOND = timedelta(seconds=1)

_FOLLOW_FIX = (
    "pull by modification time (the marketplace's updated/modified field), keep the "
    "window test on updated_at, take updated_at from that field, and never skip or "
    "cache a record by its id alone: a known id with a new modified time is a new state."
)


def _old_orders(h: ContractHarness, count: int) -> list[str]:
    """Generate ``count`` orders, then newer ones hours later; return the old ones' ids."""
    ids = [order.order_id for order in h.generate_orders(count)]
    h.expect(len(ids) == count, f"the fake generated {len(ids)} of {count} orders")
    h.advance(_AGE.total_seconds())
    h.expect(len(h.generate_orders(2)) == 2, "the fake generated too few orders")
    h.past_the_horizon()
    return ids


class OrderStatusFollowsTheMarketplace(Promise):
    """An order shipped, completed, cancelled or refunded on the marketplace is read so.

    The next pull from the stored cursor returns it with that status, and so does
    reading it by id. The fake makes every change it offers (``order_changes``) to
    an order of its own, hours after the order was placed and first pulled.
    """

    capability = Capability.ORDERS
    fix = (
        "map every status the marketplace writes for a cancelled, shipped, finished or "
        "refunded order (and an open refund request) to its OrderStatus; "
        + _FOLLOW_FIX
        + " Do not drop orders that no longer await shipment: the engine needs the "
        "cancellation to release stock."
    )

    async def check(self, h: ContractHarness) -> None:
        """Pull old orders, change each on the fake, pull again from the cursor and by id."""
        changes = sorted(h.fake.order_changes - {OrderChange.TOUCHED})
        h.expect(
            bool(changes),
            f"{type(h.fake).__name__} offers no order changes: declare order_changes and "
            "implement apply_order_change in the fake",
        )
        ids = _old_orders(h, len(changes))
        async with h.channel() as channel:
            _, cursor = await h.pull_all(channel, first_cursor(h))
            for order_id, change in zip(ids, changes, strict=True):
                h.fake.change_order(order_id, change)
            h.past_the_horizon()
            orders, _ = await h.pull_all(channel, cursor)
            pulled = {order.order_id: order for order in orders}
            for order_id, change in zip(ids, changes, strict=True):
                expected = OrderStatus(change.value)
                order = pulled.get(order_id)
                if order is None:
                    raise h.fail(
                        f"order {order_id} became {expected.value} on the marketplace, but "
                        "the next pull from the stored cursor did not return it"
                    )
                h.expect(
                    order.status is expected,
                    f"order {order_id} became {expected.value} on the marketplace, the pull "
                    f"says {order.status.value} (raw {order.raw_status!r})",
                )
                single = await channel.get_order(order_id)
                h.expect(
                    single.status is expected,
                    f"order {order_id} became {expected.value}, get_order says "
                    f"{single.status.value} (raw {single.raw_status!r})",
                )


class ChangedOldOrderComesBack(Promise):
    """An order changed long after it was placed comes back, with its new modified time.

    The orders were pulled before they changed; the next pull from the stored cursor
    must return them. They change without a new status (an address or a note), so
    only the modified time tells.
    """

    capability = Capability.ORDERS
    fix = _FOLLOW_FIX

    async def check(self, h: ContractHarness) -> None:
        """Pull old orders, touch three on the fake, pull again from the stored cursor."""
        ids = _old_orders(h, 4)
        async with h.channel() as channel:
            first, cursor = await h.pull_all(channel, first_cursor(h))
            versions = {order.order_id: order.version for order in first}
            changed = ids[:3]
            for order_id in changed:
                h.fake.change_order(order_id, OrderChange.TOUCHED)
            h.past_the_horizon()
            orders, _ = await h.pull_all(channel, cursor)
        pulled = {order.order_id: order for order in orders}
        for order_id in changed:
            modified = h.fake.store.orders[order_id].modified
            order = pulled.get(order_id)
            if order is None:
                raise h.fail(
                    f"order {order_id}, placed {_AGE} before it changed, did not come back "
                    "on the next pull"
                )
            h.expect(
                abs(order.updated_at - modified) < _SECOND,
                f"order {order_id} came back with updated_at {order.updated_at.isoformat()}, "
                f"the marketplace modified it at {modified.isoformat()}",
            )
            h.expect(
                order.version != versions.get(order_id),
                f"order {order_id} came back with the version it had before it changed",
            )


class RefundStatusFollowsTheMarketplace(Promise):
    """A refund is pulled as requested, then, once settled, with its settled status.

    The settled refund comes back on the next pull from the stored cursor.
    """

    capability = Capability.REFUNDS
    fix = "map every refund status the marketplace writes to a RefundStatus; " + _FOLLOW_FIX

    async def check(self, h: ContractHarness) -> None:
        """Open refunds, pull them, settle each on the fake, pull again from the cursor."""
        changes = sorted(h.fake.refund_changes)
        h.expect(
            bool(changes),
            f"{type(h.fake).__name__} offers no refund changes: declare refund_changes and "
            "implement create_refund and apply_refund_change in the fake",
        )
        orders = [order.order_id for order in h.generate_orders(len(changes))]
        h.expect(len(orders) == len(changes), "the fake generated too few orders to refund")
        opened = [h.fake.open_refund(order_id).refund_id for order_id in orders]
        h.past_the_horizon()
        async with h.channel() as channel:
            first, cursor = await h.pull_all_refunds(channel, first_cursor(h))
            requested = {refund.refund_id: refund for refund in first}
            for refund_id in opened:
                refund = requested.get(refund_id)
                if refund is None:
                    raise h.fail(f"refund {refund_id} was not pulled once opened")
                h.expect(
                    refund.status is RefundStatus.REQUESTED,
                    f"a newly opened refund {refund_id} came back as {refund.status.value} "
                    f"(raw {refund.raw_status!r})",
                )
            h.advance(_AGE.total_seconds())
            for refund_id, change in zip(opened, changes, strict=True):
                h.fake.change_refund(refund_id, change)
            h.past_the_horizon()
            second, _ = await h.pull_all_refunds(channel, cursor)
        pulled = {refund.refund_id: refund for refund in second}
        for refund_id, change in zip(opened, changes, strict=True):
            refund = pulled.get(refund_id)
            if refund is None:
                raise h.fail(
                    f"refund {refund_id} became {change.value} on the marketplace, but the "
                    "next pull did not return it"
                )
            h.expect(
                refund.status.value == change.value,
                f"refund {refund_id} became {change.value} on the marketplace, the pull says "
                f"{refund.status.value} (raw {refund.raw_status!r})",
            )


def _an_item(h: ContractHarness) -> FakeItem:
    for item in h.fake.store.items.values():
        if item.on_sale and any(sku.merchant_code for sku in item.skus):
            return item
    raise h.fail("the fake's seeded catalogue has no item on sale with merchant codes")


def _of_item(listings: Sequence[Listing], item: FakeItem) -> list[Listing]:
    codes = {sku.merchant_code for sku in item.skus if sku.merchant_code}
    return [listing for listing in listings if listing.merchant_code in codes]


class ListingStatusFollowsTheMarketplace(Promise):
    """An item delisted in the back office is read as delisted; relisted, as on sale.

    A delisted item is still read: listings include what is off sale.
    """

    capability = Capability.LISTINGS
    fix = (
        "read delisted items too (the marketplace's warehouse or inventory list) and map "
        "the marketplace's status to ListingStatus from the record, not from which list "
        "happened to return it."
    )

    async def check(self, h: ContractHarness) -> None:
        """Delist an item on the fake and read the listings; relist it and read again."""
        item = _an_item(h)
        codes = sorted(sku.merchant_code for sku in item.skus if sku.merchant_code)
        async with h.channel() as channel:
            for on_sale, wanted in ((False, ListingStatus.DELISTED), (True, ListingStatus.ON_SALE)):
                h.advance(60)
                h.fake.set_on_sale(item.item_id, on_sale)
                mine = _of_item(await read_listings(channel), item)
                h.expect(
                    len(mine) == len(codes),
                    f"after the item was set {wanted.value} on the marketplace, "
                    f"{len(mine)} of its {len(codes)} SKUs were read ({codes})",
                )
                wrong = [f"{x.merchant_code}: {x.status.value}" for x in mine if x.status != wanted]
                h.expect(
                    not wrong,
                    f"the item is {wanted.value} on the marketplace; read as {wrong}",
                )


class ListingPriceFollowsTheMarketplace(Promise):
    """A price changed in the marketplace's back office is read back exactly."""

    capability = Capability.LISTINGS
    fix = "read each SKU's own price from the marketplace, as Decimal, on every read."

    async def check(self, h: ContractHarness) -> None:
        """Reprice a SKU on the fake and read the listings."""
        item = _an_item(h)
        sku = next(sku for sku in item.skus if sku.merchant_code)
        price = sku.price + Decimal("3.37")
        async with h.channel() as channel:
            h.fake.set_price(sku.sku_id, price)
            read = [x for x in await read_listings(channel) if x.merchant_code == sku.merchant_code]
        h.expect(len(read) == 1, f"SKU {sku.merchant_code} read {len(read)} times")
        shown = read[0].price
        h.expect(
            shown is not None and shown.amount == price,
            f"SKU {sku.merchant_code} costs {price} on the marketplace, read as "
            f"{shown.amount if shown else None}",
        )
