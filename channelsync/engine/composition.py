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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from channelsync.engine.allocation import Allocation, ChannelShare
from channelsync.engine.availability import Listing, StockSku, allocate_group
from channelsync.engine.context import EngineContext
from channelsync.engine.pace import SlicePace
from channelsync.engine.sourcing import channel_sources, held_warehouses
from channelsync.store import BindingRecord, KitComponent, SkuRecord, StoreSession

__all__ = ["GroupPlan", "groups_apply", "kit_availability", "read_group", "replan_set"]

#: How long an unanswered event's units are held at most (as the planner's own).
_EVENT_HOLD_LIMIT = timedelta(hours=1)


def groups_apply(session: StoreSession, context: EngineContext) -> bool:
    """Whether SKUs must be planned in groups: kits exist, or a channel's sourcing is set."""
    return any(
        info.settings.warehouses is not None or info.settings.marketplace_warehouses
        for info in context.channels.values()
    ) or bool(session.kit_ids())


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """The allocations of a slice's listings, and which stock SKUs were scarce."""

    allocations: Mapping[int, Allocation]
    scarce: frozenset[int]
    kits: frozenset[int]
    """The slice's SKUs that are kits (their stock is derived, never their own)."""
    components: Mapping[int, tuple[int, ...]]
    """Each kit's component SKU ids."""


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
    """
    now = context.clock.now()
    ids = sorted(set(sku_ids))
    kits_here = session.components_of(ids)
    # The stock SKUs the slice draws on, and every listing drawing on one of them.
    drawn = {c.sku_id for parts in kits_here.values() for c in parts}
    drawn |= {i for i in ids if i not in kits_here}
    others = {k for users in session.kits_using(drawn).values() for k in users}
    listing_ids = sorted(set(ids) | drawn | others)
    kits = dict(kits_here)
    kits.update(session.components_of(sorted(others - set(kits_here))))
    stock_ids = sorted(
        {i for i in listing_ids if i not in kits}
        | {c.sku_id for parts in kits.values() for c in parts}
    )
    by_sku: dict[int, list[BindingRecord]] = defaultdict(list)
    known = bindings or {}
    missing = [i for i in listing_ids if i not in known]
    for binding in session.bindings(sku_ids=missing) if missing else []:
        if binding.channel in context.channels and binding.sku_id is not None:
            by_sku[binding.sku_id].append(binding)
    for sku_id in listing_ids:
        if sku_id in known:
            by_sku[sku_id] = list(known[sku_id])
    codes = {i: record.merchant_code for i, record in (skus or {}).items()}
    unread = [i for i in listing_ids if i not in codes]
    codes.update({i: record.merchant_code for i, record in session.skus_by_id(unread).items()})
    sales = session.recent_sales(stock_ids, now - timedelta(days=context.config.sales_window_days))
    listings: list[Listing] = []
    channels_of: dict[int, set[str]] = defaultdict(set)
    for sku_id in listing_ids:
        if sku_id not in codes:
            continue
        if sku_id in kits:
            components = tuple((c.sku_id, c.quantity) for c in kits[sku_id])
        else:
            components = ((sku_id, 1),)
        selling = sorted({b.channel for b in by_sku.get(sku_id, [])})
        shares = tuple(
            ChannelShare(
                name,
                context.channels[name].settings,
                # A kit's sales are its components' reservations: it ranks by its own
                # priority and name among what draws on them.
                0 if sku_id in kits else sales.get((sku_id, name), 0),
            )
            for name in selling
            if context.channels[name].pushes_stock
        )
        for stock_id, _ in components:
            channels_of[stock_id].update(share.channel for share in shares)
        listings.append(Listing(sku_id, codes[sku_id], components, shares))
    stock = _stock(
        session,
        context,
        stock_ids=stock_ids,
        channels_of=channels_of,
        kits=kits,
        codes=codes,
        now=now,
    )
    settings = {name: info.settings for name, info in context.channels.items()}
    held = held_warehouses(settings)
    present = session.warehouses()
    sources = {
        name: channel_sources(info.settings, present, held)
        for name, info in context.channels.items()
    }
    group = allocate_group(
        stock,
        listings,
        sources,
        held=held,
        strict=context.config.strict,
        threshold=context.config.scarce_threshold,
    )
    return GroupPlan(
        allocations={i: group.allocations[i] for i in ids if i in group.allocations},
        scarce=group.scarce,
        kits=frozenset(kits_here),
        components={k: tuple(c.sku_id for c in parts) for k, parts in kits.items()},
    )


def _stock(
    session: StoreSession,
    context: EngineContext,
    *,
    stock_ids: list[int],
    channels_of: Mapping[int, set[str]],
    kits: Mapping[int, tuple[KitComponent, ...]],
    codes: Mapping[int, str],
    now: datetime,
) -> dict[int, StockSku]:
    """Read the stock SKUs' warehouses, safety stock, announced units and pace."""
    per_warehouse = session.warehouse_stock(stock_ids)
    positions = session.positions(stock_ids)
    pace = SlicePace.read(
        session,
        context.visibility,
        stock_ids,
        window_seconds=context.config.pace_window_seconds,
        now=now,
    )
    announced = session.event_holds(context.channels, now - _EVENT_HOLD_LIMIT)
    kit_units: dict[int, int] = defaultdict(int)
    for kit_id, parts in kits.items():
        # Units an event announced for a kit are its components' units.
        for part in parts:
            kit_units[part.sku_id] += part.quantity * announced.get(codes.get(kit_id, ""), 0)
    stock: dict[int, StockSku] = {}
    for sku_id in stock_ids:
        warehouses = per_warehouse.get(sku_id, {})
        code = codes.get(sku_id)
        stock[sku_id] = StockSku(
            sku_id,
            on_hand={w: s.on_hand for w, s in warehouses.items()},
            reserved={w: s.reserved for w, s in warehouses.items()},
            safety=positions[sku_id].safety_stock if sku_id in positions else 0,
            announced=(announced.get(code, 0) if code else 0) + kit_units.get(sku_id, 0),
            in_flight=pace.in_flight(sku_id, sorted(channels_of.get(sku_id, ()))),
        )
    return stock


def replan_set(session: StoreSession, context: EngineContext, sku_ids: Iterable[int]) -> list[int]:
    """Return ``sku_ids`` with every SKU whose allocation depends on theirs, ascending.

    The kits using a changed SKU; then, until nothing is added, everything drawing on a
    scarce component of a kit in the set (its units are dealt among all of them).
    """
    plan = set(sku_ids)
    plan |= {k for users in session.kits_using(plan).values() for k in users}
    kits = session.kit_ids()
    if plan.issuperset(kits) and plan.issuperset(
        c.sku_id for parts in session.components_of(kits).values() for c in parts
    ):
        return sorted(plan)  # every kit and component is planned already (a full replan)
    expanded: set[int] = set()
    while True:
        group = read_group(session, context, plan)
        through = (group.scarce - expanded) & (
            plan | {c for k in group.kits for c in group.components[k]}
        )
        if not through:
            return sorted(plan)
        expanded |= through
        added = set(through) | {k for users in session.kits_using(through).values() for k in users}
        if added <= plan:
            return sorted(plan)
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
