"""Store transactions of the engine's steps: in a worker thread on PostgreSQL, inline on SQLite.

On a store of many writers the event loop goes on with other channels while one
channel's transaction waits for the database; on SQLite the work is the process's own
CPU and stays on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import pytest

from channelsync.clock import FakeClock
from channelsync.engine import binding, reconcile
from channelsync.engine.binding import BindReport
from channelsync.engine.context import BINDING_WRITES, THREAD_ROWS, EngineContext
from channelsync.engine.reconcile import ReconcileReport
from channelsync.store import Store, StoreSession

from .conftest import shop

_job: ContextVar[str | None] = ContextVar("job", default=None)
_R = TypeVar("_R")


def _context(store: Store) -> EngineContext:
    return EngineContext(store=store, clock=FakeClock(), channels={})


def test_a_transaction_runs_in_a_thread_only_on_a_store_of_many_writers(
    store: Store, store_url: str
) -> None:
    seen: list[tuple[bool, str | None]] = []

    def work(session: StoreSession) -> str:
        session.set_cursor("tmall", "orders", FakeClock().now(), "page-2")
        seen.append((threading.current_thread() is threading.main_thread(), _job.get()))
        return "done"

    async def main() -> str:
        _job.set("flush tmall")
        return await _context(store).transact(work, rows=THREAD_ROWS)

    assert asyncio.run(main()) == "done"
    [(on_loop, job)] = seen
    assert on_loop is store_url.startswith("sqlite")
    assert store.concurrent_writers is not store_url.startswith("sqlite")
    assert job == "flush tmall"  # a worker's lease fence lives in such a variable
    with store.transaction() as session:
        assert session.cursor("tmall", "orders") == (FakeClock().now(), "page-2")


def test_a_failed_transaction_writes_nothing_and_raises_to_the_step(store: Store) -> None:
    def work(session: StoreSession) -> None:
        session.set_cursor("tmall", "orders", FakeClock().now(), "page-2")
        raise RuntimeError("the marketplace answered nonsense")

    async def main() -> None:
        await _context(store).transact(work, rows=THREAD_ROWS)

    with pytest.raises(RuntimeError, match="nonsense"):
        asyncio.run(main())
    with store.transaction() as session:
        assert session.cursor("tmall", "orders") is None


def test_the_loop_goes_on_while_a_transaction_waits(store: Store, store_url: str) -> None:
    """On PostgreSQL another task runs while one transaction is held up."""
    release = threading.Event()
    ticks: list[int] = []
    released: list[bool] = []

    def slow(session: StoreSession) -> None:
        session.cursor("tmall", "orders")
        released.append(release.wait(timeout=5))  # False: nothing ran meanwhile

    async def ticker() -> None:
        for i in range(3):
            ticks.append(i)
            await asyncio.sleep(0)
        release.set()

    async def main() -> None:
        if store_url.startswith("sqlite"):
            release.set()  # inline there: the loop waits for it, as for any CPU work
        await asyncio.gather(_context(store).transact(slow, rows=THREAD_ROWS), ticker())

    asyncio.run(main())
    assert ticks == [0, 1, 2]
    assert released == [True]


def test_a_small_transaction_runs_on_the_loop_on_any_store(store: Store) -> None:
    """Handing a few rows to a thread costs more than it overlaps (a worker's small jobs)."""
    threads: list[bool] = []

    def work(session: StoreSession) -> None:
        session.cursor("tmall", "orders")
        threads.append(threading.current_thread() is threading.main_thread())

    async def main() -> None:
        await _context(store).transact(work, rows=THREAD_ROWS - 1)

    asyncio.run(main())
    assert threads == [True]


def test_a_step_cancelled_mid_transaction_ends_after_it(store: Store, store_url: str) -> None:
    """A thread cannot be stopped: the step waits for its commit before it is cancelled.

    Otherwise the channel's next step (a retried job) could start beside a transaction
    that still commits.
    """
    if store_url.startswith("sqlite"):
        pytest.skip("on SQLite the transaction runs on the loop: nothing can cancel it midway")
    started = threading.Event()
    release = threading.Event()
    committed: list[bool] = []

    def slow(session: StoreSession) -> None:
        session.set_cursor("tmall", "orders", FakeClock().now(), "page-2")
        started.set()
        release.wait(timeout=5)

    async def main() -> tuple[bool, bool]:
        step = asyncio.ensure_future(_context(store).transact(slow, rows=THREAD_ROWS))
        while not started.is_set():
            await asyncio.sleep(0.01)
        step.cancel()
        await asyncio.sleep(0.05)
        step.cancel()  # a second cancel (a shutdown after its grace) changes nothing
        await asyncio.sleep(0.05)
        waiting = not step.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await step
        with store.transaction() as session:
            committed.append(session.cursor("tmall", "orders") is not None)
        return waiting, step.cancelled()

    assert asyncio.run(main()) == (True, True)
    assert committed == [True]  # the transaction the step had begun is not undone


def test_a_transaction_failing_after_its_step_was_cancelled_is_not_left_unretrieved(
    store: Store, store_url: str
) -> None:
    """The step ends cancelled; what its thread raised since is dropped, not left to the GC.

    Left unretrieved, asyncio reports the thread's task as "Task exception was never
    retrieved" when it is collected: noise in a worker's log after every stop that
    cancels a step whose transaction then fails (a fenced commit refused).
    """
    if store_url.startswith("sqlite"):
        pytest.skip("on SQLite the transaction runs on the loop: nothing can cancel it midway")
    started = threading.Event()
    release = threading.Event()

    def failing(session: StoreSession) -> None:
        started.set()
        release.wait(timeout=5)
        raise RuntimeError("the commit was refused")

    async def main() -> list[dict[str, Any]]:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        step = asyncio.ensure_future(_context(store).transact(failing, rows=THREAD_ROWS))
        while not started.is_set():
            await asyncio.sleep(0.01)
        step.cancel()
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await step
        del step
        gc.collect()
        await asyncio.sleep(0)
        return reported

    assert asyncio.run(main()) == []


def test_a_binding_and_a_reconcile_of_every_listing_run_off_the_loop(
    store: Store, store_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole channel's listings are one transaction: on PostgreSQL it leaves the loop free.

    At catalogue scale that transaction takes seconds, which the other channels' order
    pulls would otherwise wait behind.
    """
    channel = shop("tmall", clock)
    for i in range(THREAD_ROWS):
        channel.add_listing(f"tmall-x{i}", f"NOT-OURS-{i}", sku_id="1", quantity=1)
    on_loop: list[bool] = []

    def spied(function: Callable[..., _R]) -> Callable[..., _R]:
        def spy(*args: Any, **kwargs: Any) -> _R:
            on_loop.append(threading.current_thread() is threading.main_thread())
            return function(*args, **kwargs)

        return spy

    monkeypatch.setattr(binding, "_report", spied(binding._report))
    monkeypatch.setattr(reconcile, "_compare", spied(reconcile._compare))
    context = EngineContext(store=store, clock=clock, channels={})

    async def main() -> tuple[BindReport, ReconcileReport]:
        async with channel:
            bound = await binding.bind_channel(context, channel)
            return bound, await reconcile.reconcile_channel(context, channel)

    bound, compared = asyncio.run(main())
    sqlite = store_url.startswith("sqlite")
    assert on_loop == [sqlite, sqlite]
    assert (bound.bound, len(bound.unbound)) == (2, THREAD_ROWS + 1)
    assert (compared.listings, compared.compared) == (THREAD_ROWS + 3, 2)


def test_channels_bound_side_by_side_write_at_most_binding_writes_at_once(
    store: Store, store_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most :data:`BINDING_WRITES` channels' bindings write at once: bound all at once,
    each in a thread, the channels would hold every channel's written rows in memory
    together; one at a time, the server's write of one waits for the next one's rows."""
    channels = [shop(name, clock) for name in ("tmall", "jd", "pinduoduo")]
    assert len(channels) > BINDING_WRITES
    for channel in channels:
        for i in range(THREAD_ROWS):
            channel.add_listing(f"{channel.name}-x{i}", f"NOT-OURS-{i}", sku_id="1", quantity=1)
    changed = threading.Condition()
    writing: list[int] = [0]
    most: list[int] = [0]
    threads: list[bool] = []

    def counted(*args: Any, **kwargs: Any) -> BindReport:
        on_loop = threading.current_thread() is threading.main_thread()
        with changed:
            writing[0] += 1
            most[0] = max(most[0], writing[0])
            threads.append(on_loop)
            changed.notify_all()
            if not on_loop:
                # In threads: stay until as many writes as allowed run, so that one more
                # would start beside them if the turn let it (a timeout, not a hang).
                changed.wait_for(lambda: writing[0] >= BINDING_WRITES, timeout=5)
        try:
            return bind(*args, **kwargs)
        finally:
            with changed:
                writing[0] -= 1
                changed.notify_all()

    bind = binding._bind
    monkeypatch.setattr(binding, "_bind", counted)
    context = EngineContext(store=store, clock=clock, channels={})

    async def main() -> list[BindReport]:
        async with contextlib.AsyncExitStack() as stack:
            for channel in channels:
                await stack.enter_async_context(channel)
            return list(await asyncio.gather(*(binding.bind_channel(context, c) for c in channels)))

    reports = asyncio.run(main())
    assert [r.listings for r in reports] == [THREAD_ROWS + 3] * 3
    sqlite = store_url.startswith("sqlite")
    assert most == [1 if sqlite else BINDING_WRITES]  # SQLite's writes run on the loop
    assert threads == [sqlite] * 3


def test_the_binding_turn_is_one_per_event_loop(store: Store) -> None:
    context = _context(store)

    async def turns() -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        return context.binding_turn(), context.binding_turn()

    first, again = asyncio.run(turns())
    assert first is again
    other, _ = asyncio.run(turns())
    assert other is not first  # a semaphore is tied to the loop it first waited in
