"""What each channel may be shown of SKUs, kits and multipacks, from the warehouses feeding it.

Availability is derived, never typed:

* a stock SKU's units in a warehouse are its on-hand units there less those reserved
  there; units reserved beyond a warehouse's stock (reservations made before
  warehouses were attributed), safety stock and units announced by events are taken
  from the fullest warehouses first;
* a channel's *pool* of a stock SKU is its units in the warehouses that feed the
  channel (marketplace-held warehouses feed no channel);
* a kit's pool on a channel is the minimum over its components of
  ``floor(component pool / quantity)``; a multipack is a kit of one component.

Each channel is shown ``min(cap, floor(pool * share) - buffer)`` of a listing while
stock is plentiful. A stock SKU is *scarce* at or below its level: the fixed
``scarce_threshold`` or else the units one sale on every listing that draws on it takes
(one per channel for a SKU sold alone), plus the units that may be sold and not yet
seen (``in_flight``). The units of a scarce SKU (less ``in_flight``) are then dealt
among everything that draws on it, the SKU itself and every kit or pack using it on
every channel, in lumps of the units one sale takes, each channel taking from the
warehouses that feed it in their priority order. A kit is shown no more than the
lumps each of its scarce components dealt it. So for every scarce component ``c``::

    sum over listings d and channels ch of quantity(d, c) * shown(d, ch) <= units of c

which is the oversell guarantee for kits, packs and sourcing (proved with hypothesis in
``tests/unit/engine/test_availability_proof.py``). A channel's ``minimum`` breaks it
deliberately and is reported as ``overcommitted``, as for a single SKU.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from channelsync.engine.allocation import Allocation, ChannelShare, base_quantity

__all__ = ["GroupAllocation", "Listing", "StockSku", "allocate_group", "units_by_warehouse"]


@dataclass(frozen=True, slots=True)
class StockSku:
    """A SKU that holds stock: its on-hand and reserved units per warehouse."""

    sku_id: int
    on_hand: Mapping[str, int]
    reserved: Mapping[str, int] = field(default_factory=dict)
    safety: int = 0
    announced: int = 0
    """Units of orders that events announced and no read has brought yet."""
    in_flight: int = 0
    """Units that may be sold on the channels drawing on it and not yet seen."""


@dataclass(frozen=True, slots=True)
class Listing:
    """Something sold on channels: a SKU (its own one component) or a kit of components."""

    sku_id: int
    code: str
    components: tuple[tuple[int, int], ...]
    """``(stock SKU id, units one sale takes)``; a plain SKU is ``((its id, 1),)``."""
    shares: tuple[ChannelShare, ...]
    """The channels selling it (only those the engine pushes stock to are allocated)."""


@dataclass(frozen=True, slots=True)
class GroupAllocation:
    """Each listing's allocation, and which stock SKUs were scarce (their units dealt)."""

    allocations: Mapping[int, Allocation]
    scarce: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Draw:
    """One listing on one channel drawing ``weight`` units of a stock SKU per sale."""

    listing: int
    channel: str
    weight: int
    limit: int
    sources: tuple[str, ...]
    rank: tuple[int, int, str, str]


def units_by_warehouse(stock: StockSku, held: Collection[str]) -> tuple[dict[str, int], int]:
    """Return the units a SKU can offer per warehouse, and its available total.

    The total is what the SKU's position calls available (negative when oversold);
    the units per warehouse never go below zero. Marketplace-held warehouses are left
    out entirely: their stock and their orders are the marketplace's.
    """
    free = {
        w: stock.on_hand.get(w, 0) - stock.reserved.get(w, 0)
        for w in sorted(set(stock.on_hand) | set(stock.reserved))
        if w not in held
    }
    total = sum(free.values()) - stock.safety - stock.announced
    units = {w: n for w, n in free.items() if n > 0}
    # Reserved beyond a warehouse's stock, safety stock and announced units come out
    # of the fullest warehouses first.
    _take_fullest(units, sum(-n for n in free.values() if n < 0) + stock.safety + stock.announced)
    return units, total


def _take_fullest(units: dict[str, int], count: int) -> None:
    """Remove ``count`` units from ``units``, one at a time from the fullest warehouse."""
    while count > 0 and units:
        top = max(units, key=lambda w: (units[w], w))
        # Level the fullest down to the next one in one step, not unit by unit.
        others = [n for w, n in units.items() if w != top]
        step = max(1, min(count, units[top] - max(others, default=0)))
        units[top] -= step
        count -= step
        if units[top] <= 0:
            del units[top]


def allocate_group(
    stock: Mapping[int, StockSku],
    listings: Sequence[Listing],
    sources: Mapping[str, tuple[str, ...]],
    *,
    held: Collection[str] = (),
    strict: bool = False,
    threshold: int | None = None,
) -> GroupAllocation:
    """Allocate every listing of ``listings`` on its channels, drawing on ``stock``.

    ``sources`` gives each channel's warehouses in priority order. Every stock SKU the
    listings draw on must be in ``stock``. A listing's allocation is right when every
    listing drawing on any of its components is in ``listings`` (the planner reads such
    neighbourhoods whole); the others only lend their limits to the deals.
    """
    units: dict[int, dict[str, int]] = {}
    totals: dict[int, int] = {}
    for sku_id, item in stock.items():
        units[sku_id], totals[sku_id] = units_by_warehouse(item, held)
    draws: dict[int, list[_Draw]] = {sku_id: [] for sku_id in stock}
    limits: dict[tuple[int, str], int] = {}
    for listing in listings:
        for share in listing.shares:
            if not share.settings.managed_stock:
                continue
            own = sources.get(share.channel, ())
            pool = min(sum(units[s].get(w, 0) for w in own) // q for s, q in listing.components)
            limit = base_quantity(pool, share.settings)
            limits[(listing.sku_id, share.channel)] = limit
            rank = (-share.settings.priority, -share.recent_sales, share.channel, listing.code)
            for s, q in listing.components:
                draws[s].append(_Draw(listing.sku_id, share.channel, q, limit, own, rank))
    levels = {
        s: (sum(d.weight for d in draws[s]) if threshold is None else threshold)
        + max(0, stock[s].in_flight)
        for s in stock
    }
    scarce = {s for s in stock if strict or totals[s] <= levels[s]}
    caps: dict[tuple[int, str], int] = {}
    for s in sorted(scarce):
        dealt = dict(units[s])
        _take_fullest(dealt, max(0, stock[s].in_flight))
        for key, lumps in _deal(dealt, sorted(draws[s], key=lambda d: d.rank)).items():
            caps[key] = min(caps.get(key, lumps), lumps)
    allocations = {
        listing.sku_id: _allocation(
            listing,
            limits=limits,
            caps=caps,
            scarce=scarce,
            totals=totals,
            levels=levels,
            stock=stock,
        )
        for listing in listings
    }
    return GroupAllocation(allocations, frozenset(scarce))


def _allocation(
    listing: Listing,
    *,
    limits: Mapping[tuple[int, str], int],
    caps: Mapping[tuple[int, str], int],
    scarce: Collection[int],
    totals: Mapping[int, int],
    levels: Mapping[int, int],
    stock: Mapping[int, StockSku],
) -> Allocation:
    """Return one listing's allocation from the group's limits and scarce deals."""
    managed = [share for share in listing.shares if share.settings.managed_stock]
    available = min(
        totals[s] if q == 1 or totals[s] < 0 else totals[s] // q for s, q in listing.components
    )
    is_scarce = any(s in scarce for s, _ in listing.components)
    shown: dict[str, int] = {}
    for share in managed:
        key = (listing.sku_id, share.channel)
        quantity = min(limits[key], caps.get(key, limits[key]))
        shown[share.channel] = max(quantity, share.settings.minimum)
    total = sum(shown.values())
    ceiling = max(available, 0)
    over = total > ceiling if is_scarce else any(q > ceiling for q in shown.values())
    if len(listing.components) == 1 and listing.components[0] == (listing.sku_id, 1):
        level = levels[listing.sku_id]
    else:
        level = len(managed)
    return Allocation(
        available=available,
        shown=shown,
        scarce=is_scarce,
        threshold=level,
        overcommitted=over,
        in_flight=max(max(0, stock[s].in_flight) for s, _ in listing.components),
    )


def _deal(units: dict[str, int], draws: Sequence[_Draw]) -> dict[tuple[int, str], int]:
    """Deal ``units`` (per warehouse) to ``draws`` in rank order, in lumps of their weight.

    Each round gives every active draw an equal number of lumps (at least one), taken
    from its own warehouses in priority order, up to its limit; with fewer units than
    draws the highest ranked get one lump each. For draws of weight 1 on the same
    warehouses this is exactly the single-SKU partition of
    :func:`~channelsync.engine.allocation.allocate`.
    """
    free = dict(units)
    got = {(d.listing, d.channel): 0 for d in draws}
    active = [d for d in draws if d.limit > 0]
    while active:
        reachable = sum(free.get(w, 0) for w in {w for d in active for w in d.sources})
        per = max(1, reachable // sum(d.weight for d in active))
        progressed = False
        still: list[_Draw] = []
        for draw in active:
            key = (draw.listing, draw.channel)
            mine = sum(free.get(w, 0) for w in draw.sources)
            lumps = min(per, draw.limit - got[key], mine // draw.weight)
            if lumps > 0:
                _take(free, draw.sources, lumps * draw.weight)
                got[key] += lumps
                progressed = True
            if got[key] < draw.limit and mine - lumps * draw.weight >= draw.weight:
                still.append(draw)
        if not progressed:
            break
        active = still
    return got


def _take(free: dict[str, int], sources: Sequence[str], count: int) -> None:
    """Take ``count`` units from ``free``, from the warehouses in ``sources`` in order."""
    for warehouse in sources:
        if count <= 0:
            return
        taken = min(count, free.get(warehouse, 0))
        if taken:
            free[warehouse] -= taken
            count -= taken
