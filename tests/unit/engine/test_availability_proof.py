"""The oversell guarantee for kits, multipacks and per-channel warehouse sourcing.

Random catalogues of stock SKUs held in several warehouses, kits and packs drawing on
them, channels fed by random warehouses in random orders: whenever a stock SKU is
scarce, the units every channel shows of everything that draws on it never add up to
more than exists, and no set of channels is shown more than its own warehouses hold.
"""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from channelsync.config import ChannelSyncSettings
from channelsync.engine.allocation import ChannelShare, allocate
from channelsync.engine.availability import (
    Listing,
    StockSku,
    allocate_group,
    units_by_warehouse,
)

WAREHOUSES = ("", "WH-A", "WH-B", "FBA")
CHANNELS = ("amazon", "jd", "pdd", "tmall")

channel_settings = st.builds(
    ChannelSyncSettings,
    share=st.decimals(min_value=0, max_value=1, places=2),
    cap=st.none() | st.integers(0, 40),
    buffer=st.integers(0, 3),
    priority=st.integers(-2, 2),
    managed_stock=st.booleans(),
)


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[dict[int, StockSku], list[Listing], dict[str, tuple[str, ...]]]:
    """Stock SKUs 1..n, kits from 100 on, each listed on some channels."""
    count = draw(st.integers(1, 4))
    stock = {
        sku_id: StockSku(
            sku_id,
            on_hand=draw(st.dictionaries(st.sampled_from(WAREHOUSES), st.integers(0, 12))),
            reserved=draw(st.dictionaries(st.sampled_from(WAREHOUSES), st.integers(0, 6))),
            safety=draw(st.integers(0, 2)),
            announced=draw(st.integers(0, 2)),
            in_flight=draw(st.integers(0, 3)),
        )
        for sku_id in range(1, count + 1)
    }
    settings_of = {name: draw(channel_settings) for name in CHANNELS}
    sources = {
        name: tuple(draw(st.permutations(WAREHOUSES[:3]))[: draw(st.integers(0, 3))])
        for name in CHANNELS
    }

    def shares() -> tuple[ChannelShare, ...]:
        names = draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=4))
        return tuple(
            ChannelShare(n, settings_of[n], draw(st.integers(0, 5))) for n in sorted(names)
        )

    listings = [
        Listing(sku_id, f"S{sku_id}", ((sku_id, 1),), shares())
        for sku_id in stock
        if draw(st.booleans())
    ]
    for kit_id in range(100, 100 + draw(st.integers(0, 4))):
        parts = draw(st.lists(st.sampled_from(sorted(stock)), min_size=1, max_size=3, unique=True))
        components = tuple((s, draw(st.integers(1, 4))) for s in parts)
        listings.append(Listing(kit_id, f"K{kit_id}", components, shares()))
    return stock, listings, sources


def _exposure(
    listings: list[Listing], shown: dict[int, dict[str, int]], sku_id: int, channels: set[str]
) -> int:
    """Units of ``sku_id`` that selling everything shown on ``channels`` would take."""
    return sum(
        q * quantity
        for listing in listings
        for s, q in listing.components
        if s == sku_id
        for channel, quantity in shown[listing.sku_id].items()
        if channel in channels
    )


@given(worlds(), st.booleans(), st.none() | st.integers(0, 20))
@settings(max_examples=400, deadline=None)
def test_what_draws_on_a_scarce_sku_never_adds_up_to_more_than_exists(
    world: tuple[dict[int, StockSku], list[Listing], dict[str, tuple[str, ...]]],
    strict: bool,
    threshold: int | None,
) -> None:
    stock, listings, sources = world
    allocated = allocate_group(
        stock, listings, sources, held={"FBA"}, strict=strict, threshold=threshold
    )
    shown = {sku_id: dict(a.shown) for sku_id, a in allocated.allocations.items()}
    if any(share.settings.minimum for listing in listings for share in listing.shares):
        return  # a minimum breaks the guarantee on purpose (reported as overcommitted)
    for sku_id, item in stock.items():
        if sku_id not in allocated.scarce:
            continue  # plentiful: every channel may show its whole pool
        units, _ = units_by_warehouse(item, {"FBA"})
        # Every set of channels, the whole set included: never more than its warehouses hold.
        for size in range(1, len(CHANNELS) + 1):
            for group in combinations(CHANNELS, size):
                reach = {w for name in group for w in sources[name]}
                exists = sum(n for w, n in units.items() if w in reach)
                assert _exposure(listings, shown, sku_id, set(group)) <= exists, (
                    sku_id,
                    group,
                )


@given(worlds())
@settings(max_examples=300, deadline=None)
def test_no_channel_is_shown_more_than_its_own_warehouses_hold_of_a_listing(
    world: tuple[dict[int, StockSku], list[Listing], dict[str, tuple[str, ...]]],
) -> None:
    stock, listings, sources = world
    result = allocate_group(stock, listings, sources, held={"FBA"}).allocations
    units = {s: units_by_warehouse(item, {"FBA"})[0] for s, item in stock.items()}
    for listing in listings:
        for share in listing.shares:
            if not share.settings.managed_stock:
                assert share.channel not in result[listing.sku_id].shown
                continue
            pool = min(
                sum(units[s].get(w, 0) for w in sources[share.channel]) // q
                for s, q in listing.components
            )
            assert (
                0
                <= result[listing.sku_id].shown[share.channel]
                <= max(pool, share.settings.minimum)
            )


single = st.lists(st.tuples(channel_settings, st.integers(0, 20)), min_size=0, max_size=6).map(
    lambda items: [ChannelShare(f"c{i}", s, sales) for i, (s, sales) in enumerate(items)]
)


@given(
    st.dictionaries(st.sampled_from(WAREHOUSES[:3]), st.integers(0, 80)),
    st.integers(0, 30),
    st.integers(0, 3),
    single,
    st.booleans(),
    st.none() | st.integers(0, 30),
    st.integers(0, 5),
)
@settings(max_examples=300, deadline=None)
def test_a_sku_sold_alone_from_every_warehouse_is_allocated_as_before(
    on_hand: dict[str, int],
    reserved: int,
    safety: int,
    channels: list[ChannelShare],
    strict: bool,
    threshold: int | None,
    in_flight: int,
) -> None:
    stock = StockSku(1, on_hand, {"": reserved}, safety=safety, in_flight=in_flight)
    everywhere = tuple(WAREHOUSES[:3])
    result = allocate_group(
        {1: stock},
        [Listing(1, "S1", ((1, 1),), tuple(channels))],
        {c.channel: everywhere for c in channels},
        strict=strict,
        threshold=threshold,
    ).allocations[1]
    available = sum(on_hand.values()) - reserved - safety
    before = allocate(available, channels, strict=strict, threshold=threshold, in_flight=in_flight)
    assert result == before


def test_a_kit_shows_the_fewest_sets_its_components_make_on_each_channel() -> None:
    plenty = ChannelSyncSettings()
    stock = {
        1: StockSku(1, {"WH-A": 30, "WH-B": 2}),  # teapots
        2: StockSku(2, {"WH-A": 100, "WH-B": 100}),  # cups
    }
    kit = Listing(
        10, "GIFT", ((1, 1), (2, 4)), (ChannelShare("jd", plenty), ChannelShare("tmall", plenty))
    )
    pack = Listing(11, "CUP-3", ((2, 3),), (ChannelShare("tmall", plenty),))
    result = allocate_group(
        stock, [kit, pack], {"jd": ("WH-B",), "tmall": ("WH-A", "WH-B")}, threshold=0
    ).allocations
    # JD sees WH-B only: 2 teapots; Tmall both: 32 teapots, 200 cups make 50 sets.
    assert result[10].shown == {"jd": 2, "tmall": 32}
    assert result[10].available == 32
    assert result[11].shown == {"tmall": 66}


def test_a_scarce_component_is_dealt_between_the_sku_and_its_kits_in_whole_sets() -> None:
    plenty = ChannelSyncSettings()
    stock = {2: StockSku(2, {"": 6})}  # six cups: one sale on every listing takes 1 + 1 + 4
    cup = Listing(2, "CUP", ((2, 1),), (ChannelShare("jd", plenty), ChannelShare("tmall", plenty)))
    set_of_four = Listing(10, "CUPS-4", ((2, 4),), (ChannelShare("tmall", plenty),))
    group = allocate_group(stock, [cup, set_of_four], {"jd": ("",), "tmall": ("",)})
    assert group.scarce == {2}
    result = group.allocations
    # One lump each in rank order: a cup on JD, a cup on Tmall, a set of four on Tmall.
    assert result[2].shown == {"jd": 1, "tmall": 1}
    assert result[10].shown == {"tmall": 1}


def test_units_reserved_beyond_a_warehouse_and_safety_stock_come_from_the_fullest() -> None:
    units, total = units_by_warehouse(
        StockSku(1, {"": 0, "WH-A": 10, "WH-B": 4}, {"": 3}, safety=2), held=()
    )
    assert total == 9
    assert units == {"WH-A": 5, "WH-B": 4}


def test_marketplace_held_warehouses_feed_no_channel() -> None:
    units, total = units_by_warehouse(StockSku(1, {"FBA": 50, "WH-A": 1}), held={"FBA"})
    assert units == {"WH-A": 1}
    assert total == 1


def test_a_pack_whose_lump_no_longer_fits_shows_none_and_the_singles_share_the_rest() -> None:
    plenty = ChannelSyncSettings()
    cup = Listing(2, "CUP", ((2, 1),), (ChannelShare("jd", plenty), ChannelShare("tmall", plenty)))
    set_of_four = Listing(10, "CUPS-4", ((2, 4),), (ChannelShare("tmall", plenty),))
    result = allocate_group(
        {2: StockSku(2, {"": 5})}, [cup, set_of_four], {"jd": ("",), "tmall": ("",)}
    ).allocations
    assert result[2].shown == {"jd": 3, "tmall": 2}
    assert result[10].shown == {"tmall": 0}
