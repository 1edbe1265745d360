"""Killing the engine between any two steps of a cycle loses nothing and does nothing twice.

A crash is simulated by raising an exception no engine code catches (as the process
dying would) at one step; a new engine then opens the same SQLite file and runs on.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.shipments import request_shipment
from channelsync.engine.sync import SyncEngine
from channelsync.models import Order, OrderStatus
from channelsync.plugins import build_plugin_manager, hookimpl
from channelsync.store import open_store
from channelsync.testing import MemoryChannel


class Crash(BaseException):
    """The process dies here (a BaseException: no ``except Exception`` survives it)."""


class Announced:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def channelsync_order_imported(self, order: Order, previous_status: OrderStatus | None) -> None:
        self.calls.append((order.order_id, order.status.value))


#: Every step of a cycle, by the function that starts it (``before``) or whose work
#: is done but not yet recorded (``after``, the call happens and then the crash).
STEPS: list[tuple[str, str, str]] = [
    ("channelsync.engine.sync", "bind_channel", "before"),
    ("channelsync.engine.sync", "ingest_orders", "before"),
    ("channelsync.engine.orders", "_apply_one", "before"),  # pulled, not stored
    ("channelsync.engine.orders", "_apply_one", "after"),  # stored, cursor not saved
    ("channelsync.engine.orders", "deliver_notifications", "before"),  # hook not called
    ("channelsync.engine.orders", "deliver_notifications", "after"),
    ("channelsync.engine.sync", "plan_changes", "before"),  # applied, not planned
    ("channelsync.engine.sync", "plan_changes", "after"),
    ("channelsync.engine.sync", "flush_channel", "before"),  # planned, not sent
    ("channelsync.engine.outbox", "_send_batches", "before"),
    ("channelsync.engine.outbox", "_call", "after"),  # sent, the next call not yet made
    ("channelsync.engine.outbox", "_settle", "before"),  # sent, answer not recorded
    ("channelsync.engine.outbox", "_settle", "after"),
    ("channelsync.engine.sync", "flush_shipments", "before"),
    ("channelsync.engine.shipments", "_record", "before"),  # pushed, answer not recorded
    ("channelsync.engine.shipments", "_record", "after"),
]
#: Steps that run once per cycle: a second call never comes, so only the first is hit.
ONCE_PER_CYCLE = {"bind_channel", "plan_changes"}
#: Every (step, nth call) the scenario below reaches; a crash is expected at each.
CRASH_POINTS = [
    (*step, nth) for step in STEPS for nth in ((1,) if step[1] in ONCE_PER_CYCLE else (1, 2))
]


def crash_at(
    monkeypatch: pytest.MonkeyPatch, module_name: str, name: str, when: str, nth: int
) -> None:
    module = importlib.import_module(module_name)
    original: Callable[..., Any] = getattr(module, name)
    seen = {"calls": 0}

    def hit() -> None:
        seen["calls"] += 1
        if seen["calls"] == nth:
            raise Crash(f"{module_name}.{name} {when} call {nth}")

    if inspect.iscoroutinefunction(original):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if when == "before":
                hit()
            result = await original(*args, **kwargs)
            if when == "after":
                hit()
            return result

        monkeypatch.setattr(module, name, async_wrapper)
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if when == "before":
                hit()
            result = original(*args, **kwargs)
            if when == "after":
                hit()
            return result

        monkeypatch.setattr(module, name, wrapper)


CATALOGUE = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\nCUP,Cup,15.00,CNY,6\n"


@pytest.mark.parametrize(("module_name", "name", "when", "nth"), CRASH_POINTS)
async def test_a_crash_at_any_step_loses_nothing_and_repeats_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    module_name: str,
    name: str,
    when: str,
    nth: int,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    clock = FakeClock()
    shops = [MemoryChannel("tmall", clock=clock), MemoryChannel("jd", clock=clock)]
    for shop in shops:
        shop.add_listing(f"{shop.name}-1", "MUG", sku_id="1")
        shop.add_listing(f"{shop.name}-2", "CUP", sku_id="2")
    tmall, jd = shops
    announced = Announced()
    host = build_plugin_manager(autoload=False, extra_plugins=[announced])

    store = open_store(url)
    import_catalogue(store, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    if name == "bind_channel":
        crash_at(monkeypatch, module_name, name, when, nth)
    else:
        await SyncEngine(store, shops, host=host, clock=clock).run_cycle()
        clock.advance(60)
        first = tmall.place_order([("MUG", 2)])
        second = tmall.place_order([("MUG", 1)])
        clock.advance(60)
        await SyncEngine(store, shops, host=host, clock=clock).run_cycle()
        for n, shipped in enumerate((first, second), start=1):
            request_shipment(
                SyncEngine(store, shops, host=host, clock=clock).context,
                "tmall",
                shipped.order_id,
                carrier="sf",
                tracking_number=f"SF100000000{n}",
            )
        clock.advance(60)
        tmall.place_order([("MUG", 1), ("CUP", 2)])
        jd.place_order([("CUP", 1)])
        jd.place_order([("MUG", 3)])
        clock.advance(60)
        crash_at(monkeypatch, module_name, name, when, nth)
    crashed = True
    try:
        await SyncEngine(store, shops, host=host, clock=clock).run_cycle()
        crashed = False
    except Crash:
        pass
    store.close()
    monkeypatch.undo()
    for shop in shops:
        await shop.close()  # the dead process's connections are gone

    # Restart: a new engine on the same file, run until nothing is left to do.
    store = open_store(url)
    for _ in range(3):
        clock.advance(3600)
        await SyncEngine(store, shops, host=host, clock=clock).run_cycle()

    placed = {**tmall.orders, **jd.orders}
    with store.transaction() as s:
        stored = {o.order_id: o for o in s.orders()}
        mug, cup = s.skus(["MUG"])[0], s.skus(["CUP"])[0]
        positions = s.positions([mug.id, cup.id])
        pending = [i for i in s.outbox() if i.state != "sent"]
        reserve_keys = [e.idempotency_key for e in s.ledger() if e.kind == "order_reserved"]
        shipment_states = [sh.state for sh in s.shipments()]
    assert shipment_states == ([] if name == "bind_channel" else ["sent", "sent"])
    # Every order imported once, in its latest state.
    assert set(stored) == set(placed)
    assert len(reserve_keys) == len(set(reserve_keys))
    for order_id, order in placed.items():
        assert stored[order_id].status == order.status.value
    # Every shipment pushed once.
    assert len(tmall.shipments) == (0 if name == "bind_channel" else 2)
    # Stock converged: the ledger matches what was sold, every channel shows it.
    units = {"MUG": 0, "CUP": 0}
    for order in placed.values():
        for line in order.lines:
            units[line.merchant_code or ""] += line.quantity
    assert positions[mug.id].available == 10 - units["MUG"]
    assert positions[cup.id].available == 6 - units["CUP"]
    assert pending == []
    for shop in shops:  # plentiful again: every channel shows all of it
        assert shop.listing("MUG").quantity == positions[mug.id].available
        assert shop.listing("CUP").quantity == positions[cup.id].available
    # The order-imported hook heard of every order and status change at least once.
    assert {(o.order_id, o.status.value) for o in placed.values()} <= set(announced.calls)
    # Every crash point is reached: none of these cases passes by never crashing.
    assert crashed
    store.close()
