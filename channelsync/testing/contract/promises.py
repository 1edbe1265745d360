"""The promises every channel makes to the engine, one named check each.

Each check's docstring states the promise; :attr:`Promise.fix` says how a plugin
usually comes to break it and what to change. A check runs against a fresh fake
marketplace and a fake clock (:class:`ContractHarness`). The checks of paged reads,
of following the marketplace's changes and of writes at their edges live in
:mod:`~channelsync.testing.contract.paging`, :mod:`~channelsync.testing.contract.following`
and :mod:`~channelsync.testing.contract.edges`; :data:`PROMISES` lists them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from channelsync.channels import Capability, Operation
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    RateLimitedError,
)
from channelsync.models import (
    Carrier,
    Money,
    Order,
    OrderStatus,
    PriceChange,
    Shipment,
)
from channelsync.testing.contract.base import (
    Promise,
    any_read,
    first_cursor,
    generate_spread,
    pick_targets,
    read_listings,
    read_stock,
    stock_update,
)
from channelsync.testing.contract.edges import (
    ListingStatusChangesLand,
    PricesLandToTheCent,
    SoldOutLands,
)
from channelsync.testing.contract.following import (
    ChangedOldOrderComesBack,
    ListingPriceFollowsTheMarketplace,
    ListingStatusFollowsTheMarketplace,
    OrderStatusFollowsTheMarketplace,
    RefundStatusFollowsTheMarketplace,
)
from channelsync.testing.contract.harness import ContractHarness
from channelsync.testing.contract.paging import (
    ListingReadIsComplete,
    OrderPullIsComplete,
    PagesStayConsistentWhileOrdersChange,
    PagesStayConsistentWhileRefundsChange,
    RefundPullIsComplete,
)
from channelsync.testing.fakes import Fault

__all__ = ["PROMISES", "Promise"]

# -- orders ---------------------------------------------------------------------------


class OrderPullIsRepeatable(Promise):
    """Pulling the same span twice yields the same orders, none lost and none doubled.

    The engine re-reads an overlap after every crash; a pull must be safe to repeat.
    """

    capability = Capability.ORDERS
    fix = (
        "fetch_orders must depend only on the window it is given (no hidden paging state "
        "kept between calls), and one window must not yield two different orders for one id."
    )

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            first, _ = await h.pull_all(channel, first_cursor(h))
            second, _ = await h.pull_all(channel, first_cursor(h))
        newest = {o.order_id: o.version for o in first}
        again = {o.order_id: o.version for o in second}
        h.expect(newest == again, "a second pull of the same span returned different orders")


class NewOrdersAfterACursorAreSeen(Promise):
    """Orders that arrive after a pull are returned by the next pull from the stored cursor.

    This is how the engine runs: pull, store the cursor, pull again later.
    """

    capability = Capability.ORDERS
    fix = (
        "pull_orders must return a cursor no later than the end of what it read; a cursor "
        "set to 'now' instead of the window end skips orders written late on the marketplace."
    )

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            _, cursor = await h.pull_all(channel, first_cursor(h))
            later = set(generate_spread(h))
            orders, _ = await h.pull_all(channel, cursor)
        missing = sorted(later - {order.order_id for order in orders})
        h.expect(not missing, f"orders created after the first pull were lost: {missing[:5]}")


class OrderTimesAreTheSameInstant(Promise):
    """Order times are timezone-aware and name the same instant the marketplace recorded.

    A marketplace in GMT+8 sends wall-clock times; the plugin converts them at its edge.
    """

    capability = Capability.ORDERS
    fix = (
        "parse marketplace times with channelsync.clock.parse_local_time(text, "
        "CHINA_STANDARD_TIME) (or the marketplace's own zone); never attach UTC to a "
        "GMT+8 wall-clock time."
    )

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            orders, _ = await h.pull_all(channel, first_cursor(h))
        for order in orders:
            h.expect(
                order.created_at.tzinfo is not None and order.updated_at.tzinfo is not None,
                f"order {order.order_id} has a naive time",
            )
            recorded = h.fake.store.orders[order.order_id].created
            h.expect(
                abs(order.created_at - recorded) < timedelta(seconds=1),
                f"order {order.order_id} created_at {order.created_at.isoformat()} is not the "
                f"instant the marketplace recorded ({recorded.isoformat()})",
            )


class OrderStatusesAreMapped(Promise):
    """Every order carries a canonical OrderStatus and keeps the marketplace's raw status.

    A new order the buyer has paid for is ``paid``.
    """

    capability = Capability.ORDERS
    fix = (
        "map every status string of the marketplace to an OrderStatus in one table, keep "
        "the original in raw_status, and map 'paid, awaiting shipment' to OrderStatus.PAID."
    )

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            orders, _ = await h.pull_all(channel, first_cursor(h))
        for order in orders:
            h.expect(isinstance(order.status, OrderStatus), f"{order.order_id}: status unmapped")
            h.expect(bool(order.raw_status), f"{order.order_id}: raw status not kept")
            h.expect(
                order.status is OrderStatus.PAID,
                f"{order.order_id}: a newly paid order came back as {order.status.value!r} "
                f"(raw {order.raw_status!r})",
            )


class OrderMoneyIsExact(Promise):
    """Order amounts are Decimal money with a currency, equal to the marketplace's to the cent."""

    capability = Capability.ORDERS
    fix = (
        "build Money from the marketplace's string (Money.of('19.90', 'CNY')) or integer "
        "minor units (Money.from_minor_units); never go through float."
    )

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            orders, _ = await h.pull_all(channel, first_cursor(h))
        for order in orders:
            _check_money(h, order)


def _check_money(h: ContractHarness, order: Order) -> None:
    recorded = h.fake.store.orders[order.order_id]
    amounts: list[Money] = [order.total, *(line.unit_price for line in order.lines)]
    for money in amounts:
        h.expect(
            isinstance(money.amount, Decimal), f"{order.order_id}: amount {money!r} not Decimal"
        )
    prices = sorted(line.unit_price.amount for line in order.lines)
    expected = sorted(line.price for line in recorded.lines)
    h.expect(
        prices == expected,
        f"{order.order_id}: line prices {prices} differ from the marketplace's {expected}",
    )


class GetOrderMatchesThePull(Promise):
    """Reading one order by id returns the same order, lines and status as the pull did."""

    capability = Capability.ORDERS
    fix = "get_order and fetch_orders must share one parser from the marketplace record."

    async def check(self, h: ContractHarness) -> None:
        generate_spread(h)
        async with h.channel() as channel:
            orders, _ = await h.pull_all(channel, first_cursor(h))
            h.expect(bool(orders), "no orders pulled")
            pulled = orders[0]
            single = await channel.get_order(pulled.order_id)
        h.expect(single.order_id == pulled.order_id, "get_order returned another order")
        h.expect(single.status == pulled.status, "get_order and the pull disagree on status")
        h.expect(
            sorted((line.sku_id or "", line.quantity) for line in single.lines)
            == sorted((line.sku_id or "", line.quantity) for line in pulled.lines),
            "get_order and the pull disagree on the order's lines",
        )


# -- stock and prices -----------------------------------------------------------------


class AbsoluteStockLands(Promise):
    """An absolute stock update is applied exactly: the listing then shows that quantity."""

    capability = Capability.INVENTORY
    fix = (
        "send the quantity as an absolute (full) update, and answer success only for the "
        "SKUs the marketplace confirmed."
    )

    async def check(self, h: ContractHarness) -> None:
        async with h.channel() as channel:
            targets = await pick_targets(h, channel, 3)
            wanted = {t.key: 7 + index for index, t in enumerate(targets)}
            updates = [stock_update(t, wanted[t.key]) for t in targets]
            results = await channel.set_stock(updates)
            failed = [r for r in results if not r.ok]
            h.expect(not failed, f"updates failed: {[str(r.error) for r in failed]}")
            shown = await read_stock(h, channel)
        for key, quantity in wanted.items():
            h.expect(shown.get(key) == quantity, f"{key}: shows {shown.get(key)}, sent {quantity}")


class StockBatchesRespectTheDeclaredSize(Promise):
    """Stock updates go out in calls no larger than the declared batch size, one result each."""

    capability = Capability.INVENTORY
    fix = (
        "declare the marketplace's real batch limit in ChannelLimits.batch_sizes "
        "[Operation.SET_STOCK] and send exactly the batch you are given in send_stock_batch."
    )

    async def check(self, h: ContractHarness) -> None:
        size = h.channel_class.limits.batch_size(Operation.SET_STOCK)
        async with h.channel() as channel:
            targets = await pick_targets(h, channel, size + 1)
            before = h.transport.requests
            results = await channel.set_stock([stock_update(t, 5) for t in targets])
            calls = h.transport.requests - before
        h.expect(len(results) == len(targets), f"{len(results)} results for {len(targets)}")
        h.expect(all(r.ok for r in results), f"failures: {[str(r.error) for r in results]}")
        least = math.ceil(len(targets) / size)
        h.expect(
            calls >= least,
            f"{len(targets)} updates went out in {calls} calls; a batch size of {size} "
            f"needs at least {least}",
        )


class OneBadSkuFailsAlone(Promise):
    """In a batch with one unknown SKU, that SKU is reported failed and the others are applied."""

    capability = Capability.INVENTORY
    fix = (
        "read the marketplace's per-item answers and return UpdateResult.failure for the "
        "refused SKU only; a one-SKU-per-call marketplace raises for that call alone."
    )

    async def check(self, h: ContractHarness) -> None:
        async with h.channel() as channel:
            targets = await pick_targets(h, channel, 2)
            good = [stock_update(t, 3) for t in targets]
            bad = good[0].model_copy(
                update={"sku_id": "999999999999", "merchant_code": "CONTRACT-NO-SUCH-SKU"}
            )
            results = await channel.set_stock([good[0], bad, *good[1:]])
            shown = await read_stock(h, channel)
        h.expect(len(results) == len(good) + 1, "not one result per update")
        h.expect(not results[1].ok, "the unknown SKU was reported as updated")
        h.expect(
            all(r.ok for i, r in enumerate(results) if i != 1),
            f"good SKUs failed with the bad one: {[str(r.error) for r in results]}",
        )
        for target in targets:
            h.expect(shown.get(target.key) == 3, f"{target.key}: good update not applied")


class PricesLand(Promise):
    """A price change is applied exactly, in Decimal: the listing then shows that price."""

    capability = Capability.PRICING
    fix = (
        "format prices from Decimal (yuan strings, or integer fen via Money.to_minor_units); "
        "never through float."
    )

    async def check(self, h: ContractHarness) -> None:
        async with h.channel() as channel:
            targets = await pick_targets(h, channel, 2)
            changes = [
                PriceChange(
                    item_id=t.item_id,
                    sku_id=t.sku_id,
                    merchant_code=t.merchant_code,
                    price=Money.of(Decimal("88.80") + index, t.currency),
                )
                for index, t in enumerate(targets)
            ]
            results = await channel.set_prices(changes)
            h.expect(all(r.ok for r in results), f"failures: {[str(r.error) for r in results]}")
            if channel.supports(Capability.LISTINGS):
                read = {listing.key: listing.price for listing in await read_listings(channel)}
                shown = {key: None if p is None else p.amount for key, p in read.items()}
            else:
                shown = {(i.item_id, s.sku_id): s.price for i, s in h.fake.store.iter_skus()}
        for change, target in zip(changes, targets, strict=True):
            h.expect(
                shown.get(target.key) == change.price.amount,
                f"{target.key}: shows {shown.get(target.key)}, sent {change.price.amount}",
            )


class ListingMoneyIsDecimal(Promise):
    """Listings carry Decimal money with a currency and whole, non-negative quantities."""

    capability = Capability.LISTINGS
    fix = "build Money from strings or minor units; quantities are int."

    async def check(self, h: ContractHarness) -> None:
        async with h.channel() as channel:
            listings = await read_listings(channel)
        h.expect(bool(listings), "no listings read from a seeded fake")
        for listing in listings:
            h.expect(
                listing.price is None or isinstance(listing.price.amount, Decimal),
                f"{listing.key}: price not Decimal",
            )
            h.expect(
                listing.quantity is None or listing.quantity >= 0,
                f"{listing.key}: negative quantity",
            )


# -- shipments ------------------------------------------------------------------------


def _shipment(h: ContractHarness, order_id: str, carrier: Carrier) -> Shipment:
    return Shipment(
        channel="contract",
        order_id=order_id,
        carrier=carrier,
        carrier_name="Contract Express" if carrier is Carrier.OTHER else None,
        tracking_number="SF1234567890123",
        shipped_at=h.clock.now(),
    )


def _a_mapped_carrier(h: ContractHarness) -> Carrier:
    codes = h.channel_class.limits.carrier_codes
    h.expect(bool(codes), "the channel declares no carrier codes")
    return Carrier.SF if Carrier.SF in codes else sorted(codes)[0]


class ShipmentCarrierIsMapped(Promise):
    """A shipment reaches the marketplace with the carrier code the channel declares."""

    capability = Capability.SHIPMENTS
    fix = "send limits.carrier_code(carrier) (through self.carrier_code) as the carrier field."

    async def check(self, h: ContractHarness) -> None:
        order_id = h.generate_orders(1)[0].order_id
        carrier = _a_mapped_carrier(h)
        async with h.channel() as channel:
            result = await channel.push_shipment(_shipment(h, order_id, carrier))
        h.expect(result.order_id == order_id, "the result names another order")
        shipments = h.fake.store.orders[order_id].shipments
        h.expect(len(shipments) == 1, f"the marketplace recorded {len(shipments)} shipments")
        code = h.channel_class.limits.carrier_code(carrier)
        h.expect(
            shipments[0].carrier_code == code,
            f"carrier sent as {shipments[0].carrier_code!r}, declared {code!r}",
        )


class RepeatedShipmentIsOne(Promise):
    """Pushing the same shipment twice succeeds twice and creates one shipment."""

    capability = Capability.SHIPMENTS
    fix = (
        "treat the marketplace's 'already shipped' answer as success with "
        "ShipmentResult.already_shipped=True, never as an error to retry."
    )

    async def check(self, h: ContractHarness) -> None:
        order_id = h.generate_orders(1)[0].order_id
        shipment = _shipment(h, order_id, _a_mapped_carrier(h))
        async with h.channel() as channel:
            await channel.push_shipment(shipment)
            second = await channel.push_shipment(shipment)
        h.expect(second.already_shipped, "the second push was not reported as already shipped")
        count = len(h.fake.store.orders[order_id].shipments)
        h.expect(count == 1, f"the marketplace recorded {count} shipments")


# -- errors and secrets ---------------------------------------------------------------


class ThrottleIsRetryableWithTheWait(Promise):
    """The marketplace's throttle answer becomes a retryable RateLimitedError."""

    fix = (
        "map the marketplace's throttle codes (or HTTP 429) to RateLimitedError with "
        "retry_after taken from the answer when it gives one."
    )

    async def check(self, h: ContractHarness) -> None:
        h.fake.faults.force(Fault.THROTTLE)
        async with h.channel() as channel:
            error = await _expect_error(h, channel)
        h.expect(
            isinstance(error, RateLimitedError) and error.retryable,
            f"a throttle answer became {type(error).__name__}: {error}",
        )


class RefusedCredentialsArePermanent(Promise):
    """A wrong secret is refused as a permanent authentication error, not retried."""

    fix = (
        "map the marketplace's signature / token errors to AuthenticationError (or "
        "AuthorizationError for missing rights)."
    )

    async def check(self, h: ContractHarness) -> None:
        wrong = {field: f"{value}-wrong" for field, value in h.credentials.items()}
        async with h.channel(credentials=wrong, retries=3) as channel:
            error = await _expect_error(h, channel)
        h.expect(
            isinstance(error, AuthenticationError | AuthorizationError) and not error.retryable,
            f"wrong credentials became {type(error).__name__}: {error}",
        )


class BrokenBodiesAreChannelErrors(Promise):
    """A malformed or truncated answer is a clear channel error, never a KeyError or traceback."""

    fix = (
        "parse every body with channelsync.http.parse_json and read fields through a helper "
        "that raises DataError naming the missing field."
    )

    async def check(self, h: ContractHarness) -> None:
        for fault in (Fault.MALFORMED, Fault.TRUNCATED):
            h.fake.faults.force(fault)
            async with h.channel() as channel:
                error = await _expect_error(h, channel)
            h.expect(bool(str(error)), f"{fault.value} body: the error has no message")


class SecretsStaySecret(Promise):
    """No credential value appears in logs or exception texts, even when calls fail."""

    fix = (
        "never put a secret into an exception message or a log call; the transport redacts "
        "credential values it knows, so register any new token with self.redactor."
    )

    async def check(self, h: ContractHarness) -> None:
        secrets = [value for value in h.credentials.values() if len(value) >= 4]
        texts: list[str] = []
        with h.captured_logs() as lines:
            for fault in (Fault.SERVER_ERROR, Fault.EXPIRED_TOKEN, Fault.MALFORMED):
                h.fake.faults.force(fault)
                async with h.channel() as channel:
                    try:
                        await any_read(channel)
                    except ChannelError as error:
                        texts.extend([str(error), repr(error)])
                    texts.append(repr(channel))
            texts.extend(lines)
        for text in texts:
            for secret in secrets:
                h.expect(secret not in text, f"a credential value appeared in: {text[:200]!r}")


async def _expect_error(h: ContractHarness, channel: Any) -> ChannelError:
    try:
        await any_read(channel)
    except ChannelError as error:
        return error
    except Exception as error:
        raise h.fail(f"raised {type(error).__name__} instead of a ChannelError: {error}") from error
    raise h.fail("the call succeeded although the marketplace answered with a failure")


PROMISES: Sequence[type[Promise]] = (
    OrderPullIsComplete,
    OrderPullIsRepeatable,
    NewOrdersAfterACursorAreSeen,
    PagesStayConsistentWhileOrdersChange,
    OrderStatusFollowsTheMarketplace,
    ChangedOldOrderComesBack,
    OrderTimesAreTheSameInstant,
    OrderStatusesAreMapped,
    OrderMoneyIsExact,
    GetOrderMatchesThePull,
    RefundPullIsComplete,
    PagesStayConsistentWhileRefundsChange,
    RefundStatusFollowsTheMarketplace,
    ListingReadIsComplete,
    ListingMoneyIsDecimal,
    ListingStatusFollowsTheMarketplace,
    ListingPriceFollowsTheMarketplace,
    ListingStatusChangesLand,
    AbsoluteStockLands,
    SoldOutLands,
    StockBatchesRespectTheDeclaredSize,
    OneBadSkuFailsAlone,
    PricesLand,
    PricesLandToTheCent,
    ShipmentCarrierIsMapped,
    RepeatedShipmentIsOne,
    ThrottleIsRetryableWithTheWait,
    RefusedCredentialsArePermanent,
    BrokenBodiesAreChannelErrors,
    SecretsStaySecret,
)
