"""A store with orders, parked updates and a held raise, and the console over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.console.app import build_app
from channelsync.console.source import ConsoleSource
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

TOKEN = "console-token-7f3a9c"

CATALOGUE = """sku,title,price,currency,quantity,cost
MUG,Mug,20.00,CNY,10,8.00
CUP,Cup,15.00,CNY,1,5.00
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = open_store(store_url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


def shop(name: str, clock: FakeClock) -> MemoryChannel:
    channel = MemoryChannel(name, clock=clock)
    channel.add_listing(f"{name}-1", "MUG", sku_id="1", quantity=0)
    channel.add_listing(f"{name}-2", "CUP", sku_id="2", quantity=0)
    return channel


@pytest.fixture
def tmall(clock: FakeClock) -> MemoryChannel:
    return shop("tmall", clock)


@pytest.fixture
def jd(clock: FakeClock) -> MemoryChannel:
    return shop("jd", clock)


@pytest.fixture
async def synced(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> SyncEngine:
    """Two shops after a few cycles: orders in, MUG's updates to Tmall parked for good."""
    tmall.reject("MUG", "item frozen by the marketplace", code="isv.item-frozen")
    engine = SyncEngine(store, [tmall, jd], clock=clock)
    await engine.run_cycle()
    clock.advance(60)
    jd.place_order([("MUG", 2)])
    clock.advance(60)
    jd.place_order([("MUG", 1)])
    clock.advance(120)
    await engine.run_cycle()
    return engine


@pytest.fixture
def source(store: Store, clock: FakeClock, synced: SyncEngine) -> ConsoleSource:
    return ConsoleSource(store, {"tmall": "memory", "jd": "memory"}, clock=clock)


@pytest.fixture
async def client(source: ConsoleSource) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(source, token=TOKEN)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
        yield c
