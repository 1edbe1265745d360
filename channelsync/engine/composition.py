"""Plan kits, multipacks and warehouse-sourced SKUs together with what they draw on.

The planner hands a slice of SKUs here when the catalogue has kits or a channel is
sourced from particular warehouses (:func:`groups_apply`). This module reads the
neighbourhood the slice's allocations depend on: the stock SKUs its listings draw on,
per warehouse, and every other listing drawing on those (a cup sold alone on JD and in
a gift set on Tmall), then allocates them as one group
(:func:`~channelsync.engine.availability.allocate_group`).

Which SKUs a change replans (:func:`replan_set`): a changed stock SKU, the kits using
it, and, through every scarce component of those kits, everything else drawing on that
component. A scarce component's units are dealt among all that draws on it, so all of
them are replanned together or none; a plentiful component binds nothing together, so
a component's sale replans only the kits that use it and grows with those, not with
the catalogue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from channelsync.engine.allocation import Allocation, ChannelShare
from channelsync.engine.availability import Listing, StockSku, allocate_group, units_by_warehouse
from channelsync.engine.context import EngineContext
from channelsync.engine.pace import SlicePace
from channelsync.engine.sourcing import channel_sources, held_warehouses
from channelsync.store import (
    BindingRecord,
    KitComponent,
    SkuRecord,
    StoreSession,
    WarehouseStock,
)

__all__ = [
    "GroupPlan",
    "grouped",
    "groups_apply",
    "kit_availability",
    "read_group",
    "replan_set",
]

#: From this many SKUs a replan may hold every kit and component (a settings change, a
#: first cycle): then nothing needs to be added, which is checked before anything else.
_WHOLE_CATALOGUE = 1_000
#: How long an unanswered event's units are held at most (as the planner's own).
_EVENT_HOLD_LIMIT = timedelta(hours=1)


def _sourcing_set(context: EngineContext) -> bool:
    """Whether any channel is fed from particular warehouses (or holds some)."""
    return any(
        info.settings.warehouses is not None or info.settings.marketplace_warehouses
        for info in context.channels.values()
    )


def groups_apply(session: StoreSession, context: EngineContext) -> bool:
    """Whether SKUs must be planned in groups: kits exist, or a channel's sourcing is set."""
    return _sourcing_set(context) or session.has_kits()


def grouped(session: StoreSession, context: EngineContext, sku_ids: Iterable[int]) -> set[int]:
    """Return which of ``sku_ids`` are planned as groups.

    Every one when a channel's sourcing is set; else the kits and the components of
    kits. A SKU no kit uses is planned alone, as before kits existed: the same
    allocation (proved in the availability tests) at less cost.
    """
    ids = list(sku_ids)
    if _sourcing_set(context):
        return set(ids)
    return set(session.components_of(ids)) | set(session.kits_using(ids))


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """The allocations of a slice's listings, and which stock SKUs were scarce."""

    allocations: Mapping[int, Allocation]
    scarce: frozenset[int]
    kits: frozenset[int]
    """The slice's SKUs that are kits (their stock is derived, never their own)."""
    components: Mapping[int, tuple[int, ...]]
    """Each kit's component SKU ids."""
    available: Mapping[int, int]
    """Each of the slice's stock SKUs' available units outside marketplace-held warehouses
    (negative when oversold): held units are the marketplace's and hide no oversell."""


def read_group(
    session: StoreSession,
    context: EngineContext,
    sku_ids: Iterable[int],
    *,
    bindings: Mapping[int, list[BindingRecord]] | None = None,
    skus: Mapping[int, SkuRecord] | None = None,
) -> GroupPlan:
    """Allocate ``sku_ids`` with everything their allocation depends on read from the store.

    ``bindings`` and ``skus`` are what the caller has read already for ``sku_ids``.
    The other listings drawing on a component are read only when the component may be
    scarce: a plentiful one deals nothing, so they cannot change this slice's shares.
    """
    ids = sorted(set(sku_ids))
    reads = _Reads(session, context, dict(skus or {}))
    kits = dict(session.components_of(ids))
    kits_here = frozenset(kits)
    drawn = {c.sku_id for parts in kits.values() for c in parts} | {i for i in ids if i not in kits}
    users = session.kits_using(drawn)
    kits.update(session.components_of(sorted({k for ks in users.values() for k in ks} - kits_here)))
    reads.load(drawn)
    reads.announce(kits)
    settings = {name: info.settings for name, info in context.channels.items()}
    held = held_warehouses(settings)
    maybe = {
        s
        for s in drawn
        if _may_be_scarce(reads, context, s, users=users.get(s, ()), kits=kits, held=held)
    }
    others = {k for s in maybe for k in users.get(s, ())}
    listing_ids = sorted(set(ids) | maybe | others)
    stock_ids = {i for i in listing_ids if i not in kits} | {
        c.sku_id for k in listing_ids if k in kits for c in kits[k]
    }
    reads.load(stock_ids)
    # Kits hold no stock: their own records (codes, safety) are read here.
    reads.records.update(session.skus_by_id([i for i in listing_ids if i not in reads.records]))
    by_sku = _bindings(session, context, listing_ids, bindings or {})
    sales = session.recent_sales(
        sorted(stock_ids), context.clock.now() - timedelta(days=context.config.sales_window_days)
    )
    listings: list[Listing] = []
    channels_of: dict[int, set[str]] = defaultdict(set)
    for sku_id in listing_ids:
        record = reads.records.get(sku_id)
        if record is None:
            continue
        if sku_id in kits:
            components = tuple((c.sku_id, c.quantity) for c in kits[sku_id])
        else:
            components = ((sku_id, 1),)
        shares = tuple(
            ChannelShare(
                name,
                context.channels[name].settings,
                # A kit's sales are its components' reservations: it ranks by its own
                # priority and name among what draws on them.
                0 if sku_id in kits else sales.get((sku_id, name), 0),
            )
            for name in sorted({b.channel for b in by_sku.get(sku_id, [])})
            if context.channels[name].pushes_stock
        )
        for stock_id, _ in components:
            channels_of[stock_id].update(share.channel for share in shares)
        listings.append(Listing(sku_id, record.merchant_code, components, shares))
    stock = {s: reads.stock(s, channels_of.get(s, ())) for s in sorted(stock_ids)}
    # Default sourcing is every warehouse; those holding none of these SKUs add nothing.
    present = sorted({w for item in stock.values() for w in (*item.on_hand, *item.reserved)})
    group = allocate_group(
        stock,
        listings,
        {name: channel_sources(value, present, held) for name, value in settings.items()},
        held=held,
        strict=context.config.strict,
        threshold=context.config.scarce_threshold,
    )
    return GroupPlan(
        allocations={i: group.allocations[i] for i in ids if i in group.allocations},
        scarce=group.scarce,
        kits=kits_here,
        components={k: tuple(c.sku_id for c in parts) for k, parts in kits.items()},
        available={
            i: units_by_warehouse(replace(stock[i], announced=0), held)[1]
            for i in ids
            if i in stock
        },
    )


def _may_be_scarce(
    reads: _Reads,
    context: EngineContext,
    sku_id: int,
    *,
    users: Iterable[int],
    kits: Mapping[int, tuple[KitComponent, ...]],
    held: Collection[str],
) -> bool:
    """Whether a stock SKU could be scarce, whatever channels its listings are bound to.

    Its level is at most one sale on every pushing channel of itself and of every kit
    using it, plus what all pushing channels may have sold unseen.
    """
    if context.config.strict:
        return True
    pushing = sorted(name for name, info in context.channels.items() if info.pushes_stock)
    if context.config.scarce_threshold is not None:
        bound = context.config.scarce_threshold
    else:
        per_sale = 1 + sum(c.quantity for k in users for c in kits.get(k, ()) if c.sku_id == sku_id)
        bound = len(pushing) * per_sale
    item = reads.stock(sku_id, pushing)
    _, total = units_by_warehouse(item, held)
    return total <= bound + max(0, item.in_flight)


def _bindings(
    session: StoreSession,
    context: EngineContext,
    sku_ids: list[int],
    known: Mapping[int, list[BindingRecord]],
) -> dict[int, list[BindingRecord]]:
    """Each SKU's bindings to configured channels, reading only those not ``known``."""
    by_sku: dict[int, list[BindingRecord]] = defaultdict(list)
    missing = [i for i in sku_ids if i not in known]
    for binding in session.bindings(sku_ids=missing) if missing else []:
        if binding.channel in context.channels and binding.sku_id is not None:
            by_sku[binding.sku_id].append(binding)
    for sku_id in sku_ids:
        if sku_id in known:
            by_sku[sku_id] = list(known[sku_id])
    return by_sku


class _Reads:
    """What a group's stock SKUs need from the store, read in bulk as the group grows."""

    def __init__(
        self, session: StoreSession, context: EngineContext, records: dict[int, SkuRecord]
    ) -> None:
        self._session = session
        self._context = context
        self.records = records
        self._warehouses: dict[int, dict[str, WarehouseStock]] = {}
        self._paces: list[SlicePace] = []
        self._loaded: set[int] = set()
        self._kit_units: dict[int, int] = {}
        now = context.clock.now()
        self._announced = session.event_holds(context.channels, now - _EVENT_HOLD_LIMIT)

    def load(self, sku_ids: Iterable[int]) -> None:
        """Read the stock, records and pace of the SKUs not read yet."""
        new = sorted(set(sku_ids) - self._loaded)
        if not new:
            return
        self._loaded.update(new)
        self._warehouses.update(self._session.warehouse_stock(new))
        self.records.update(self._session.skus_by_id([i for i in new if i not in self.records]))
        self._paces.append(
            SlicePace.read(
                self._session,
                self._context.visibility,
                new,
                window_seconds=self._context.config.pace_window_seconds,
                now=self._context.clock.now(),
            )
        )

    def announce(self, kits: Mapping[int, tuple[KitComponent, ...]]) -> None:
        """Count the units events announced for ``kits`` as their components' units."""
        self._kit_units = defaultdict(int)
        if not self._announced:
            return
        for row in self._session.skus_by_id(kits).values():
            units = self._announced.get(row.merchant_code, 0)
            for part in kits[row.id] if units else ():
                self._kit_units[part.sku_id] += part.quantity * units

    def stock(self, sku_id: int, channels: Iterable[str]) -> StockSku:
        """Return the stock SKU as the allocation sees it, its pace over ``channels``."""
        warehouses = self._warehouses.get(sku_id, {})
        record = self.records.get(sku_id)
        code = record.merchant_code if record is not None else ""
        announced = self._announced.get(code, 0) + self._kit_units.get(sku_id, 0)
        names = sorted(channels)
        return StockSku(
            sku_id,
            on_hand={w: s.on_hand for w, s in warehouses.items()},
            reserved={w: s.reserved for w, s in warehouses.items()},
            safety=record.safety_stock if record is not None else 0,
            announced=announced,
            in_flight=max((pace.in_flight(sku_id, names) for pace in self._paces), default=0),
        )


def replan_set(
    session: StoreSession, context: EngineContext, sku_ids: Iterable[int]
) -> tuple[list[int], GroupPlan | None]:
    """Return ``sku_ids`` with every SKU whose allocation depends on theirs, ascending.

    The kits using a changed SKU; then, until nothing is added, everything drawing on a
    scarce component of a kit in the set (its units are dealt among all of them). With
    them, the group allocation of exactly that set when the search computed it (the
    planner uses it rather than reading and allocating the same group again).
    """
    plan = set(sku_ids)
    plan |= {k for users in session.kits_using(plan).values() for k in users}
    if len(plan) >= _WHOLE_CATALOGUE:
        kits = session.kit_ids()
        if plan.issuperset(kits) and plan.issuperset(
            c.sku_id for parts in session.components_of(kits).values() for c in parts
        ):
            return sorted(plan), None  # every kit and component is planned (a full replan)
    expanded: set[int] = set()
    while True:
        group = read_group(session, context, plan)
        through = (group.scarce - expanded) & (
            plan | {c for k in group.kits for c in group.components[k]}
        )
        if not through:
            return sorted(plan), group
        expanded |= through
        added = set(through) | {k for users in session.kits_using(through).values() for k in users}
        if added <= plan:
            return sorted(plan), group
        plan |= added


def kit_availability(session: StoreSession, kit_ids: Iterable[int]) -> dict[int, int]:
    """Return how many of each kit its components make: ``min(floor(available / quantity))``.

    Available is each component's position (on hand less reserved and safety stock, in
    every warehouse); what a particular channel may be shown also depends on the
    warehouses feeding it and on what else draws on the components (the planner's
    :func:`read_group`). SKUs that are not kits do not appear.
    """
    kits = session.components_of(kit_ids)
    positions = session.positions({c.sku_id for parts in kits.values() for c in parts})
    return {
        kit_id: max(0, min(positions[c.sku_id].available // c.quantity for c in parts))
        for kit_id, parts in kits.items()
    }
