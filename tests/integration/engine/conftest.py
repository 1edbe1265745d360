from __future__ import annotations

from collections.abc import Iterator

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.store import Store, open_store
from channelsync.testing import MemoryChannel

CATALOGUE = """sku,title,price,currency,quantity,cost
MUG,Mug,20.00,CNY,10,8.00
CUP,Cup,15.00,CNY,1,5.00
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def stocked_store(url: str, clock: FakeClock) -> Iterator[Store]:
    """Yield a store of ``url`` holding :data:`CATALOGUE`; close it after."""
    opened = open_store(url)
    import_catalogue(opened, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    yield opened
    opened.close()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    yield from stocked_store(store_url, clock)


def shop(name: str, clock: FakeClock) -> MemoryChannel:
    channel = MemoryChannel(name, clock=clock)
    channel.add_listing(f"{name}-1", "MUG", sku_id="1", quantity=0)
    channel.add_listing(f"{name}-2", "CUP", sku_id="2", quantity=0)
    channel.add_listing(f"{name}-3", "OTHER", sku_id="3", quantity=4)
    return channel


@pytest.fixture
def tmall(clock: FakeClock) -> MemoryChannel:
    return shop("tmall", clock)


@pytest.fixture
def jd(clock: FakeClock) -> MemoryChannel:
    return shop("jd", clock)
