"""Turn stock and catalogue changes into outbox entries for every channel.

For each changed SKU the planner computes what each bound channel should show (the
allocation) and charge (the price rules), compares that with what was last queued
for the listing, and queues only the differences. It runs inside the caller's
transaction, so the outbox entries commit together with the change that caused them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from channelsync.engine.allocation import Allocation, ChannelShare, allocate
from channelsync.engine.composition import (
    GroupPlan,
    grouped,
    groups_apply,
    read_group,
    replan_set,
)
from channelsync.engine.context import EngineContext
from channelsync.engine.outbox import Kind, stock_urgency
from channelsync.engine.pace import SlicePace
from channelsync.engine.pricing import (
    CurrencyNote,
    PricePlans,
    check_currency,
    record_currency,
)
from channelsync.models import ListingStatus
from channelsync.plugins import LowStockAlert
from channelsync.store import BindingRecord, OutboxEntry, SkuRecord, StoreSession

__all__ = ["PlanReport", "plan_changes"]

#: How long an unanswered event's units are held at most: by then polling, with its
#: completeness rules, has brought the order (or it does not exist).
EVENT_HOLD_LIMIT = timedelta(hours=1)
#: SKUs planned per slice: enough for set-based writes, few enough to bound memory.
_SLICE = 5_000


@dataclass
class PlanReport:
    """What one planning pass queued."""

    skus: int = 0
    queued: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    overcommitted: list[str] = field(default_factory=list)
    """SKUs whose sum shown exceeds available because of a ``minimum`` setting."""
    alerts: list[LowStockAlert] = field(default_factory=list)
    oversold: dict[str, int] = field(default_factory=dict)
    """SKUs with more units sold than exist (available below zero), and by how many."""

    def add(self, other: PlanReport) -> None:
        """Add ``other``'s findings to this report."""
        self.skus += other.skus
        for channel, count in other.queued.items():
            self.queued[channel] += count
        self.overcommitted += other.overcommitted
        self.alerts += other.alerts
        self.oversold.update(other.oversold)


def plan_changes(
    session: StoreSession, context: EngineContext, sku_ids: Iterable[int] | None = None
) -> PlanReport:
    """Queue what changed for ``sku_ids`` (default: every SKU marked changed)."""
    ids = list(session.changed_skus() if sku_ids is None else sku_ids)
    # Read before anything the plan reads: a mark made after this (another writer's
    # order or binding) keeps its SKU marked for the next pass.
    seen = session.change_counts(ids)
    in_groups = groups_apply(session, context)
    ready = None
    if in_groups:
        # Kits and sourcing tie SKUs together: replan all that depends on a change.
        ids, ready = replan_set(session, context, ids)
        # The SKUs a change draws in (kits, shared components), read before their plan.
        seen.update(session.change_counts(i for i in ids if i not in seen))
    report = PlanReport(skus=len(ids))
    # In slices, so a whole catalogue's entries are never held in memory at once; all
    # of them still commit in the caller's one transaction.
    held: list[int] = []
    for start in range(0, len(ids), _SLICE):
        held += _plan_slice(
            session,
            context,
            ids[start : start + _SLICE],
            report,
            in_groups,
            # The search allocated the whole set as one group: the one slice uses it.
            ready=ready if len(ids) <= _SLICE else None,
        )
    session.clear_changed(ids, seen)
    if held:
        # Units held back for their pace are released as the pace decays, with no
        # order to mark the SKU changed: look at them again on the next pass.
        session.mark_changed(held)
    return report


def _plan_slice(
    session: StoreSession,
    context: EngineContext,
    ids: list[int],
    report: PlanReport,
    in_groups: bool = False,
    *,
    ready: GroupPlan | None = None,
) -> list[int]:
    """Plan one slice; return the SKUs whose allocation holds units back for their pace."""
    now = context.clock.now()
    skus = session.skus_by_id(ids)
    positions = session.positions(ids)
    by_sku: dict[int, list[BindingRecord]] = defaultdict(list)
    for binding in session.bindings(sku_ids=ids):
        if binding.channel in context.channels and binding.sku_id is not None:
            by_sku[binding.sku_id].append(binding)
    members, group = _slice_group(
        session, context, ids, in_groups=in_groups, ready=ready, bindings=by_sku, skus=skus
    )
    alone = [i for i in ids if i not in members]
    if alone:
        sales = session.recent_sales(alone, now - timedelta(days=context.config.sales_window_days))
        pace = SlicePace.read(
            session,
            context.visibility,
            alone,
            window_seconds=context.config.pace_window_seconds,
            now=now,
        )
        # Units of orders that events announced and no read has brought yet.
        announced = session.event_holds(context.channels, now - EVENT_HOLD_LIMIT)
    queue = _Queue()
    prices = PricePlans(context.host)
    held: list[int] = []
    for sku_id in ids:
        sku = skus.get(sku_id)
        if sku is None:
            continue
        available = positions[sku_id].available
        oversold = _oversold(available, group, sku_id)
        if oversold:
            report.oversold[sku.merchant_code] = oversold
        bindings = by_sku.get(sku_id, [])
        if group is not None and sku_id in members:
            allocation = group.allocations[sku_id]
        else:
            selling = sorted({b.channel for b in bindings})
            shares = [
                ChannelShare(name, context.channels[name].settings, sales.get((sku_id, name), 0))
                for name in selling
                if context.channels[name].pushes_stock
            ]
            allocation = allocate(
                available - announced.get(sku.merchant_code, 0),
                shares,
                strict=context.config.strict,
                threshold=context.config.scarce_threshold,
                in_flight=pace.in_flight(sku_id, (share.channel for share in shares)),
            )
        if allocation.scarce and allocation.in_flight:
            held.append(sku_id)
        if allocation.overcommitted:
            report.overcommitted.append(sku.merchant_code)
        _check_low_stock(session, context, sku, allocation, report)
        for binding in bindings:
            listing = binding
            if _sold_since_sent(session, binding, allocation, _drawn(group, sku_id)):
                listing = replace(binding, planned_quantity=None)  # send the allocation again
            _plan_listing(
                queue,
                context,
                binding=listing,
                sku=sku,
                allocation=allocation,
                report=report,
                prices=prices,
            )
    _plan_item_statuses(session, queue)
    # A few set-based writes instead of three statements per listing.
    session.enqueue_many(queue.entries, now)
    session.set_planned_many(quantities=queue.quantities, prices=queue.prices)
    record_currency(session, queue.currency, now)
    return held


def _oversold(available: int, group: GroupPlan | None, sku_id: int) -> int:
    """Return the units of a SKU sold beyond what exists (0 for a kit: its components are).

    A grouped SKU counts only what lies outside marketplace-held warehouses: those
    units are the marketplace's to sell and hide no oversell of the merchant's own.
    """
    if group is not None:
        if sku_id in group.kits:
            return 0
        available = group.available.get(sku_id, available)
    return max(0, -available)


def _slice_group(
    session: StoreSession,
    context: EngineContext,
    ids: list[int],
    *,
    in_groups: bool,
    ready: GroupPlan | None,
    bindings: Mapping[int, list[BindingRecord]],
    skus: Mapping[int, SkuRecord],
) -> tuple[set[int], GroupPlan | None]:
    """Return which SKUs of a slice are allocated as a group, and that group's plan."""
    if ready is not None:
        # Allocated with the whole set: for a SKU no kit uses, the same allocation.
        return set(ids), ready
    members = grouped(session, context, ids) if in_groups else set()
    if not members:
        return members, None
    return members, read_group(session, context, members, bindings=bindings, skus=skus)


def _drawn(group: GroupPlan | None, sku_id: int) -> tuple[int, ...]:
    """Return the SKUs whose reservations record a sale of ``sku_id`` (a kit's components)."""
    if group is not None and sku_id in group.kits:
        return group.components[sku_id]
    return (sku_id,)


def _sold_since_sent(
    session: StoreSession,
    binding: BindingRecord,
    allocation: Allocation,
    drawn: tuple[int, ...],
) -> bool:
    """Whether the channel sold units of the listing since it accepted its planned quantity.

    A marketplace lowers its own quantity as it sells, so it then shows less than it
    was sent. Usually the allocation changes too and is sent anyway; when it does not
    (a cap, or the channel's share of a scarce SKU), the same value must be sent
    again, or the channel keeps showing less than its allocation.
    """
    if (
        binding.sent_at is None
        or binding.sku_id is None
        or binding.planned_quantity is None
        or binding.planned_quantity != binding.sent_quantity
        or allocation.shown.get(binding.channel) != binding.planned_quantity
    ):
        return False
    # Marketplaces stamp orders in whole seconds: an order in the second of the send may
    # be later than it. Counting it sends the same value once more, which is harmless.
    since = binding.sent_at - timedelta(seconds=1)
    # A kit's sale shows as its components' reservations; a component sold alone on the
    # same channel counts too, which only sends the same value once more.
    return any(session.units_ordered_since(binding.channel, s, since) > 0 for s in drawn)


@dataclass(frozen=True, slots=True)
class _StatusChange:
    """A listing's planned quantity change, which may list or delist it."""

    binding: BindingRecord
    address: dict[str, object]
    key: str
    quantity: int
    previous: int | None


@dataclass
class _Queue:
    """What one planning pass queues, written in bulk at its end."""

    entries: list[OutboxEntry] = field(default_factory=list)
    quantities: dict[int, int] = field(default_factory=dict)
    prices: dict[int, str] = field(default_factory=dict)
    currency: list[CurrencyNote] = field(default_factory=list)
    item_statuses: list[_StatusChange] = field(default_factory=list)
    """Stock changes of listings whose status is the whole item's: decided per item."""

    def add(
        self, channel: str, kind: Kind, key: str, payload: dict[str, object], urgency: int
    ) -> None:
        """Queue ``payload`` for the listing ``key`` of ``channel``."""
        self.entries.append(OutboxEntry(channel, kind, key, payload, urgency))


def _plan_listing(
    queue: _Queue,
    context: EngineContext,
    *,
    binding: BindingRecord,
    sku: SkuRecord,
    allocation: Allocation,
    report: PlanReport,
    prices: PricePlans,
) -> None:
    info = context.channels[binding.channel]
    now = context.clock.now()
    address = {
        "binding_id": binding.id,
        "item_id": binding.item_id,
        "sku_id": binding.listing_sku_id,
        "merchant_code": sku.merchant_code,
    }
    key = f"{binding.item_id}/{binding.listing_sku_id or ''}"
    if info.pushes_stock and binding.channel in allocation.shown:
        quantity = allocation.shown[binding.channel]
        if quantity != binding.planned_quantity:
            previous = binding.sent_quantity
            queue.add(
                binding.channel,
                Kind.STOCK,
                key,
                {**address, "quantity": quantity, "previous": previous},
                stock_urgency(quantity, previous),
            )
            queue.quantities[binding.id] = quantity
            report.queued[binding.channel] += 1
            if info.listings and info.settings.auto_delist:
                change = _StatusChange(binding, address, key, quantity, previous)
                if info.item_wide_status:
                    queue.item_statuses.append(change)
                else:
                    _plan_status(queue, change)
    if info.pricing:
        price = check_currency(
            queue.currency,
            info.settings,
            channel=binding.channel,
            key=key,
            price=prices.price(
                sku, info.settings, channel=info.name, channel_type=info.type_name, now=now
            ),
        )
        if price is None:
            return  # parked as a currency mismatch: nothing to send
        text = format(price.amount, "f")
        if text != binding.planned_price:
            queue.add(
                binding.channel,
                Kind.PRICE,
                key,
                {**address, "amount": text, "currency": price.currency},
                0,
            )
            queue.prices[binding.id] = text
            report.queued[binding.channel] += 1


def _plan_status(queue: _Queue, change: _StatusChange, *, siblings_at_zero: bool = True) -> None:
    """Delist a listing planned at zero, relist one planned above zero again.

    ``siblings_at_zero`` says whether every other SKU of the item is at zero too; where
    a delist takes the whole item off sale, a SKU at zero beside siblings with stock
    stays listed at quantity zero instead, so the siblings remain buyable.
    """
    binding = change.binding
    if change.quantity == 0:
        if not siblings_at_zero:
            return
        status = ListingStatus.DELISTED
    elif change.previous == 0 or change.previous is None or binding.planned_quantity == 0:
        # A delist queued but not sent yet is replaced (the entries coalesce).
        status = ListingStatus.ON_SALE
    else:
        return
    payload = {**change.address, "status": status.value}
    queue.add(binding.channel, Kind.LISTING, change.key, payload, 0)


def _plan_item_statuses(session: StoreSession, queue: _Queue) -> None:
    """Decide the status changes of item-wide channels with every SKU of each item in view."""
    by_channel: dict[str, set[str]] = defaultdict(set)
    for change in queue.item_statuses:
        by_channel[change.binding.channel].add(change.binding.item_id)
    shown: dict[tuple[str, str], list[int | None]] = defaultdict(list)
    for channel, item_ids in by_channel.items():
        for sibling in session.bindings_of_items(channel, item_ids):
            # What it will show: planned now, else last planned, sent, or last read
            # (a sibling the catalogue does not manage shows what the marketplace has).
            quantity = next(
                (
                    q
                    for q in (
                        queue.quantities.get(sibling.id),
                        sibling.planned_quantity,
                        sibling.sent_quantity,
                        sibling.channel_quantity,
                    )
                    if q is not None
                ),
                None,
            )
            shown[(channel, sibling.item_id)].append(quantity)
    for change in queue.item_statuses:
        # A SKU whose quantity is unknown counts as having stock: hiding a buyable
        # sibling is the harm to avoid; a later plan delists once it is known.
        quantities = shown[(change.binding.channel, change.binding.item_id)]
        _plan_status(queue, change, siblings_at_zero=all(q == 0 for q in quantities))


def _check_low_stock(
    session: StoreSession,
    context: EngineContext,
    sku: SkuRecord,
    allocation: Allocation,
    report: PlanReport,
) -> None:
    threshold = context.config.low_stock_threshold
    if threshold is None:
        threshold = allocation.threshold
    below = allocation.available < threshold
    if below and not sku.low_stock_alerted:
        session.set_low_stock_alerted(sku.id, True)
        report.alerts.append(
            LowStockAlert(
                merchant_code=sku.merchant_code,
                available=allocation.available,
                threshold=threshold,
                at=context.clock.now(),
            )
        )
    elif not below and sku.low_stock_alerted:
        session.set_low_stock_alerted(sku.id, False)
