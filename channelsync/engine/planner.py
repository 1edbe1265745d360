"""Turn stock and catalogue changes into outbox entries for every channel.

For each changed SKU the planner computes what each bound channel should show (the
allocation) and charge (the price rules), compares that with what was last queued
for the listing, and queues only the differences. It runs inside the caller's
transaction, so the outbox entries commit together with the change that caused them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from channelsync.engine.allocation import Allocation, allocate
from channelsync.engine.composition import (
    GroupPlan,
    grouped,
    groups_apply,
    read_group,
    replan_set,
)
from channelsync.engine.context import EngineContext
from channelsync.engine.listing_plan import SlicePlan
from channelsync.engine.pace import SlicePace
from channelsync.plugins import LowStockAlert
from channelsync.store import BindingRecord, SkuRecord, StoreSession

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
    plan = SlicePlan(context, report.queued, now)
    alone = _Alone(session, context, plan, [i for i in ids if i not in members], now)
    held: list[int] = []
    allocated: list[tuple[SkuRecord, Allocation, list[BindingRecord]]] = []
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
            allocation = alone.allocate(sku, available, bindings)
        if allocation.scarce and allocation.in_flight:
            held.append(sku_id)
        if allocation.overcommitted:
            report.overcommitted.append(sku.merchant_code)
        _check_low_stock(session, context, sku, allocation, report)
        allocated.append((sku, allocation, bindings))
    sold = _sold_since_sent(session, allocated, group)
    for sku, allocation, bindings in allocated:
        for binding in bindings:
            listing = binding
            if binding.id in sold:
                listing = replace(binding, planned_quantity=None)  # send the allocation again
            plan.listing(listing, sku, allocation)
    # A few set-based writes instead of three statements per listing.
    plan.write(session, now)
    return held


class _Alone:
    """The allocation of a slice's SKUs that no group ties to others, from reads per slice."""

    def __init__(
        self,
        session: StoreSession,
        context: EngineContext,
        plan: SlicePlan,
        sku_ids: list[int],
        now: datetime,
    ) -> None:
        self._plan = plan
        # Allocations by all that decides them: SKUs of a slice often share their units,
        # channels and sales (an allocation is frozen, and only ever read).
        self._known: dict[tuple[object, ...], Allocation] = {}
        self._strict = context.config.strict
        self._threshold = context.config.scarce_threshold
        self._sold: dict[int, dict[str, int]] = {}
        self._pace = SlicePace({}, {})
        self._announced: Mapping[str, int] = {}
        if not sku_ids:
            return
        # The sales window's and the pace's windows, read together.
        windows = SlicePace.windows(context.config.pace_window_seconds)
        since = [now - timedelta(days=context.config.sales_window_days)]
        since += [now - timedelta(seconds=seconds) for seconds in windows]
        sold, *paced = session.sales_since(sku_ids, since)
        for (sku_id, channel), units in sold.items():
            self._sold.setdefault(sku_id, {})[channel] = units
        self._pace = SlicePace.of_sales(session, context.visibility, windows, paced)
        # Units of orders that events announced and no read has brought yet.
        self._announced = session.event_holds(context.channels, now - EVENT_HOLD_LIMIT)

    def allocate(
        self, sku: SkuRecord, available: int, bindings: Sequence[BindingRecord]
    ) -> Allocation:
        """Allocate ``sku``'s ``available`` units across the channels of its ``bindings``."""
        selling = self._plan.selling(bindings)
        sold = self._sold.get(sku.id)
        units = available - self._announced.get(sku.merchant_code, 0)
        in_flight = self._pace.in_flight(sku.id, (share.channel for share in selling))
        # The tuple's identity names its channels for the slice (the plan keeps it).
        key = (units, id(selling), in_flight, tuple(sold.items()) if sold else ())
        found = self._known.get(key)
        if found is None:
            shares = selling if sold is None else self._plan.with_sales(selling, sold)
            found = self._known[key] = allocate(
                units, shares, strict=self._strict, threshold=self._threshold, in_flight=in_flight
            )
        return found


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
    allocated: Sequence[tuple[SkuRecord, Allocation, list[BindingRecord]]],
    group: GroupPlan | None,
) -> set[int]:
    """Return the bindings whose channel sold the listing since it accepted its plan.

    A marketplace lowers its own quantity as it sells, so it then shows less than it
    was sent. Usually the allocation changes too and is sent anyway; when it does not
    (a cap, or the channel's share of a scarce SKU), the same value must be sent
    again, or the channel keeps showing less than its allocation. The sales of every
    binding that needs the question are read at once (a price change replans whole
    catalogues of unchanged allocations).
    """
    asked: dict[int, list[tuple[str, int]]] = {}
    wanted: dict[tuple[str, int], datetime] = {}
    for sku, allocation, bindings in allocated:
        for binding in bindings:
            if (
                binding.sent_at is None
                or binding.sku_id is None
                or binding.planned_quantity is None
                or binding.planned_quantity != binding.sent_quantity
                or allocation.shown.get(binding.channel) != binding.planned_quantity
            ):
                continue
            # Marketplaces stamp orders in whole seconds: an order in the second of the
            # send may be later than it. Counting it sends the same value once more.
            since = binding.sent_at - timedelta(seconds=1)
            # A kit's sale shows as its components' reservations; a component sold
            # alone on the same channel counts too (the same value sent once more).
            pairs = [(binding.channel, drawn) for drawn in _drawn(group, sku.id)]
            asked[binding.id] = pairs
            for pair in pairs:
                # Two listings of one SKU on a channel share the earlier time: at worst
                # the later one's value is sent once more.
                wanted[pair] = min(since, wanted.get(pair, since))
    if not asked:
        return set()
    units = session.units_ordered_since_many(wanted)
    return {binding_id for binding_id, pairs in asked.items() if any(units[p] for p in pairs)}


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
    # The flag read with the SKU may be stale (another plan of it at once): the alert
    # goes out only where this plan's claim turned the flag on.
    if below and not sku.low_stock_alerted:
        if session.claim_low_stock_alert(sku.id, True):
            report.alerts.append(
                LowStockAlert(
                    merchant_code=sku.merchant_code,
                    available=allocation.available,
                    threshold=threshold,
                    at=context.clock.now(),
                )
            )
    elif not below and sku.low_stock_alerted:
        session.claim_low_stock_alert(sku.id, False)
