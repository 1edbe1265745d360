"""A first sync cycle on the four plugin fakes with their documented rate limits.

Each fake runs in-process and enforces its marketplace's limits; the engine's
transports pace themselves to the same limits; time is the event loop's virtual time,
so a cycle that waits minutes on quotas takes seconds to run. Prints, per channel, the
calls and virtual seconds of a first cycle with that channel alone, then the same
cycle with the four together: when channels are worked side by side the whole costs
about the slowest channel, not the sum.

    python benchmarks/first_cycle.py                 # 1,000 items (2,000 SKUs)
    python benchmarks/first_cycle.py --items 250
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channelsync.config import ChannelSyncSettings
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import build_plugin_manager
from channelsync.store import Store, open_store
from channelsync.testing.chaos_checks import _in_process_channel
from channelsync.testing.chaos_world import _catalogue, _extend_fakes, _Shop, _shops
from channelsync.testing.oversell import VirtualTime

PLUGINS = ("tmall", "jd", "pinduoduo", "amazon")


@dataclass
class World:
    """The plugin fakes in-process, a store with their catalogue, and an engine on them."""

    clock: VirtualTime
    shops: list[_Shop]
    store: Store
    engine: SyncEngine
    catalogue: str
    """The catalogue imported, as CSV."""


@contextlib.contextmanager
def fakes_world(
    names: tuple[str, ...], items: int, directory: Path, *, on_hand: int = 10
) -> Iterator[World]:
    """Build the fakes of ``names`` with ``items`` catalogue items (2 SKUs each), their
    documented limits on, and an engine on a SQLite store in ``directory``."""
    host = build_plugin_manager()
    clock = VirtualTime()
    shops = [
        s
        for s in _shops(host, seed=1, fault_rate=0.0, fault_kinds=None, clock=clock)
        if s.type_name in names
    ]
    _extend_fakes(shops, items)
    csv_text, _ = _catalogue(items, on_hand, None)
    store = open_store(f"sqlite:///{directory / ('-'.join(names) + '.db')}")
    try:
        import_catalogue(store, parse_catalogue(csv_text, "csv"), now=clock.now())
        settings = {s.channel: ChannelSyncSettings.model_validate(s.sync) for s in shops if s.sync}
        engine = SyncEngine(
            store,
            [_in_process_channel(shop, clock) for shop in shops],
            settings=settings,
            clock=clock,
            host=host,
        )
        yield World(clock, shops, store, engine, csv_text)
    finally:
        store.close()


async def _cycle(
    names: tuple[str, ...], items: int, directory: Path
) -> tuple[float, dict[str, int]]:
    """Run one first cycle of ``names``; return its virtual seconds and calls per channel."""
    with fakes_world(names, items, directory) as world:
        clock = world.clock
        with clock.running():
            started = clock.monotonic()
            summary = await world.engine.run_cycle()
            elapsed = clock.monotonic() - started
        for name, channel_summary in summary.channels.items():
            if channel_summary.errors:
                print(f"  {name}: {'; '.join(channel_summary.errors)}")
        calls: dict[str, int] = {}
        for shop in world.shops:
            fake: Any = shop.fake
            calls[shop.type_name] = sum(fake.calls.values())
        return elapsed, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="catalogue items (2 SKUs each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="channelsync-first-cycle-") as where:
        directory = Path(where)
        alone: dict[str, float] = {}
        for name in PLUGINS:
            seconds, calls = asyncio.run(_cycle((name,), args.items, directory))
            alone[name] = seconds
            print(f"{name:<10} alone: {calls[name]:>6} calls, {seconds:8.1f} s (virtual)")
        seconds, calls = asyncio.run(_cycle(PLUGINS, args.items, directory))
    print(f"sum of the four alone:  {sum(alone.values()):8.1f} s")
    print(f"slowest alone:          {max(alone.values()):8.1f} s")
    print(f"the four in one cycle:  {seconds:8.1f} s ({sum(calls.values())} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
