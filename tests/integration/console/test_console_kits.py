"""The console's SKU page for kits, their components, and stock kept in several warehouses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings
from channelsync.console.app import build_app
from channelsync.console.source import ConsoleSource
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.composition import kit_availability
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

JSON = {"Accept": "application/json"}

CATALOGUE = """sku,title,price,currency,quantity,warehouse,components
TEAPOT,Teapot,80.00,CNY,10,WH-A,
CUP,Cup,15.00,CNY,40,WH-A,
CUP,Cup,15.00,CNY,8,WH-B,
CUP,Cup,15.00,CNY,6,FBA,
GIFT,Gift set,150.00,CNY,,,TEAPOT*1;CUP*4
CUP-3,Three cups,40.00,CNY,,,CUP*3
"""

#: Tmall is fed from WH-B first, then WH-A; JD from every warehouse no marketplace holds;
#: Amazon's marketplace holds FBA (its stock is read, never pushed).
SETTINGS = {
    "tmall": ChannelSyncSettings(warehouses=("WH-B", "WH-A")),
    "jd": ChannelSyncSettings(),
    "amazon": ChannelSyncSettings(managed_stock=False, marketplace_warehouses=("FBA",)),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


def shop(name: str, clock: FakeClock, codes: tuple[str, ...]) -> MemoryChannel:
    channel = MemoryChannel(name, clock=clock)
    for number, code in enumerate(codes, start=1):
        channel.add_listing(f"{name}-{number}", code, sku_id=str(number), quantity=0)
    return channel


@pytest.fixture
async def synced(store: Store, clock: FakeClock) -> dict[str, MemoryChannel]:
    """Three shops after a sync, and JD's order of two gift sets imported."""
    shops = {
        "tmall": shop("tmall", clock, ("GIFT", "CUP-3", "CUP")),
        "jd": shop("jd", clock, ("GIFT", "TEAPOT", "CUP")),
        "amazon": shop("amazon", clock, ("CUP",)),
    }
    # What Amazon's warehouse holds: its listing's read brings it into FBA.
    shops["amazon"].listing("CUP").quantity = 6
    engine = SyncEngine(store, list(shops.values()), settings=SETTINGS, clock=clock)
    await engine.run_cycle()
    clock.advance(60)
    shops["jd"].place_order([("GIFT", 2)])
    clock.advance(60)
    await engine.run_cycle()
    return shops


def make_client(source: ConsoleSource) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_app(source, token=None), client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765")


@pytest.fixture
async def client(
    store: Store, clock: FakeClock, synced: dict[str, MemoryChannel]
) -> AsyncIterator[httpx.AsyncClient]:
    source = ConsoleSource(store, dict.fromkeys(SETTINGS, "memory"), clock=clock, settings=SETTINGS)
    async with make_client(source) as c:
        yield c


def makes(store: Store, code: str) -> int:
    with store.transaction() as session:
        (kit,) = session.skus([code])
        return kit_availability(session, [kit.id])[kit.id]


async def test_a_kits_page_lists_its_components_and_what_they_make(
    client: httpx.AsyncClient, store: Store, synced: dict[str, MemoryChannel]
) -> None:
    data = (await client.get("/skus/GIFT", headers=JSON)).json()
    # Two sets took 2 teapots and 8 cups: 8 teapots and 46 cups (54 on hand, FBA's 6
    # among them, as kit_availability counts every warehouse, less 8 reserved): 8 sets.
    assert data["kit"] == {
        "components": [
            {"sku": "CUP", "quantity": 4, "available": 46, "makes": 11},
            {"sku": "TEAPOT", "quantity": 1, "available": 8, "makes": 8},
        ],
        "available": 8,
    }
    # Its available is what its components make, never its own (empty) stock.
    assert data["available"] == makes(store, "GIFT") == 8
    assert (data["on_hand"], data["reserved"]) == (0, 0)
    assert data["used_in"] == []
    assert data["warehouse_stock"] == []
    listings = {c["channel"]: c for c in data["channels"]}
    assert listings["jd"]["sent"] == synced["jd"].listing("GIFT").quantity
    html = (await client.get("/skus/GIFT")).text
    assert "Kit: made of" in html
    assert 'data-component="CUP"' in html
    assert 'href="/skus/TEAPOT"' in html
    assert "available (what its components make)" in html

    pack = (await client.get("/skus/CUP-3", headers=JSON)).json()
    assert pack["kit"]["components"] == [
        {"sku": "CUP", "quantity": 3, "available": 46, "makes": 15}
    ]
    assert pack["available"] == makes(store, "CUP-3") == 15


async def test_a_components_page_lists_the_kits_using_it(client: httpx.AsyncClient) -> None:
    data = (await client.get("/skus/CUP", headers=JSON)).json()
    assert data["kit"] is None
    assert data["used_in"] == [{"sku": "CUP-3", "quantity": 3}, {"sku": "GIFT", "quantity": 4}]
    assert (await client.get("/skus/TEAPOT", headers=JSON)).json()["used_in"] == [
        {"sku": "GIFT", "quantity": 1}
    ]
    html = (await client.get("/skus/CUP")).text
    assert 'Used in kits: <a href="/skus/CUP-3">CUP-3</a> (3 per kit)' in html


async def test_stock_per_warehouse_with_the_channels_each_feeds(
    client: httpx.AsyncClient,
) -> None:
    data = (await client.get("/skus/CUP", headers=JSON)).json()
    assert data["warehouses"] == {"FBA": 6, "WH-A": 40, "WH-B": 8}
    assert data["sourcing"] is True
    # JD's order of two sets reserved its 8 cups in WH-A, the first of its sources.
    assert data["warehouse_stock"] == [
        {
            "warehouse": "FBA",
            "on_hand": 6,
            "reserved": 0,
            "free": 6,
            "feeds": [],
            "held_by": "amazon",
        },
        {
            "warehouse": "WH-A",
            "on_hand": 40,
            "reserved": 8,
            "free": 32,
            "feeds": ["jd", "tmall"],
            "held_by": None,
        },
        {
            "warehouse": "WH-B",
            "on_hand": 8,
            "reserved": 0,
            "free": 8,
            "feeds": ["jd", "tmall"],
            "held_by": None,
        },
    ]
    html = (await client.get("/skus/CUP")).text
    assert '<tr data-warehouse="WH-A"><td>WH-A</td><td class="num">40</td>' in html
    assert "held by the marketplace of amazon: feeds no channel" in html
    assert '<td class="feeds">jd, tmall</td>' in html


async def test_without_the_channels_settings_no_feeds_are_claimed(
    store: Store, clock: FakeClock, synced: dict[str, MemoryChannel]
) -> None:
    source = ConsoleSource(store, dict.fromkeys(SETTINGS, "memory"), clock=clock)
    async with make_client(source) as c:
        data = (await c.get("/skus/CUP", headers=JSON)).json()
        html = (await c.get("/skus/CUP")).text
    assert data["sourcing"] is False
    assert all(row["feeds"] is None for row in data["warehouse_stock"])
    # Three warehouses: the table is still shown, without a feeds column.
    assert 'data-warehouse="WH-B"' in html
    assert "<th>Feeds</th>" not in html


async def test_a_plain_sku_in_one_warehouse_shows_no_kit_and_no_warehouse_table(
    client: httpx.AsyncClient,
) -> None:
    data = (await client.get("/skus/TEAPOT", headers=JSON)).json()
    assert (data["on_hand"], data["reserved"], data["available"]) == (10, 2, 8)
    assert data["kit"] is None
    assert [row["warehouse"] for row in data["warehouse_stock"]] == ["WH-A"]
    html = (await client.get("/skus/TEAPOT")).text
    assert "Kit: made of" not in html
    # One warehouse, fed by sourcing: the table says which channels it feeds.
    assert '<td class="feeds">jd, tmall</td>' in html
