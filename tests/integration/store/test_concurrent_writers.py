"""Many writers on one store: ledger changes serialise per SKU, outbox claims never overlap.

Every race runs real threads, each with a connection and a transaction of its own,
released together by a :class:`threading.Barrier`. The SQLite runs hold too (one
writer at a time, its write lock taken before the reads); the PostgreSQL runs (marker
``postgres``) are the point: row locks taken in one order, ``ON CONFLICT`` on the
idempotency key, ``FOR UPDATE SKIP LOCKED`` for claims.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import text

from channelsync.store import (
    LedgerEvent,
    OutboxEntry,
    OutboxState,
    ParkedRecord,
    SkuData,
    SqlStore,
    Store,
    open_store,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=5)
THREADS = 8
ROUNDS = 5
#: How long a thread waits for the others (a broken race fails instead of hanging).
TIMEOUT = 20.0

T = TypeVar("T")


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    opened = open_store(postgres_url)
    try:
        yield opened
    finally:
        opened.close()


def _race(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``work(i, barrier)`` on ``count`` threads at once; return their answers in order.

    A thread that fails breaks the barrier, so the others stop too, and its error (not
    theirs, a ``BrokenBarrierError``) is raised.
    """
    barrier = threading.Barrier(count, timeout=TIMEOUT)

    def run(worker: int) -> T:
        try:
            return work(worker, barrier)
        except BaseException:
            barrier.abort()
            raise

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        failures = [e for f in futures if (e := f.exception(timeout=TIMEOUT * 2)) is not None]
    if failures:
        broken = threading.BrokenBarrierError
        raise next((e for e in failures if not isinstance(e, broken)), failures[0])
    return [f.result() for f in futures]


def _skus(store: Store, *codes: str) -> list[int]:
    with store.transaction() as s:
        made = s.upsert_skus([SkuData(code, None, code, "10.00", "CNY") for code in codes], NOW)
    return [made[code] for code in codes]


def _reserve(key: str, sku_id: int, quantity: int, order_id: str) -> LedgerEvent:
    return LedgerEvent(
        key, "order_reserved", sku_id, reserved_delta=quantity, channel="tmall", order_id=order_id
    )


def _count(key: str, sku_id: int, delta: int) -> LedgerEvent:
    return LedgerEvent(key, "manual_adjustment", sku_id, on_hand_delta=delta)


# --- the ledger -------------------------------------------------------------------------


def test_concurrent_reservations_on_one_sku_add_up(store: Store) -> None:
    """Nothing lost, nothing doubled: the reservation every thread tops up is the sum."""
    (sku,) = _skus(store, "MUG")
    with store.transaction() as s:
        s.apply_events([_count("in", sku, 1000), _reserve("open", sku, 1, "SHARED")], NOW)

    def work(worker: int, barrier: threading.Barrier) -> int:
        applied = 0
        for round_ in range(ROUNDS):
            with store.transaction() as s:
                barrier.wait()
                # A read-modify-write of one reservation row, a new reservation and an
                # on-hand change, all on the SKU every other thread changes too.
                events = [
                    _reserve(f"top:{worker}:{round_}", sku, 1, "SHARED"),
                    _reserve(f"own:{worker}:{round_}", sku, 2, f"O-{worker}-{round_}"),
                    _count(f"out:{worker}:{round_}", sku, -1),
                ]
                applied += sum(s.apply_events(events, NOW))
        return applied

    assert _race(THREADS, work) == [3 * ROUNDS] * THREADS
    changes = THREADS * ROUNDS
    with store.transaction() as s:
        position = s.positions([sku])[sku]
        shared = s.reservation("tmall", "SHARED", sku)
        events = len(s.ledger(sku))
    assert shared == 1 + changes
    assert (position.on_hand, position.reserved) == (1000 - changes, 1 + 3 * changes)
    assert events == 2 + 3 * changes


def test_a_key_raced_by_many_threads_is_applied_once(store: Store) -> None:
    """All threads apply one same event (and one their own) at once: the shared one counts once."""
    (sku,) = _skus(store, "MUG")

    def work(worker: int, barrier: threading.Barrier) -> list[list[bool]]:
        answers = []
        for round_ in range(ROUNDS):
            with store.transaction() as s:
                barrier.wait()
                events = [
                    _reserve(f"dup:{round_}", sku, 3, f"O-{round_}"),
                    _count(f"own:{worker}:{round_}", sku, 1),
                ]
                answers.append(s.apply_events(events, NOW))
        return answers

    answers = _race(THREADS, work)
    for round_ in range(ROUNDS):
        shared = [answers[worker][round_][0] for worker in range(THREADS)]
        assert shared.count(True) == 1, f"round {round_}: {shared}"
        assert all(answers[worker][round_][1] for worker in range(THREADS))
    with store.transaction() as s:
        position = s.positions([sku])[sku]
        keys = Counter(e.idempotency_key for e in s.ledger(sku))
        orders = s.reservations("tmall", [f"O-{r}" for r in range(ROUNDS)])
    assert (position.on_hand, position.reserved) == (THREADS * ROUNDS, 3 * ROUNDS)
    assert orders == {(f"O-{r}", sku): 3 for r in range(ROUNDS)}
    assert set(keys.values()) == {1}
    assert len(keys) == ROUNDS + THREADS * ROUNDS


def test_batches_over_the_same_skus_in_opposite_orders_never_deadlock(store: Store) -> None:
    """Each batch changes ten SKUs, half the threads in reverse: the locks go in one order."""
    ids = _skus(store, *(f"S{n}" for n in range(10)))

    def work(worker: int, barrier: threading.Barrier) -> None:
        order = ids if worker % 2 else ids[::-1]
        for round_ in range(ROUNDS):
            with store.transaction() as s:
                barrier.wait()
                s.apply_events([_count(f"{worker}:{round_}:{i}", i, 1) for i in order], NOW)

    _race(THREADS, work)
    with store.transaction() as s:
        assert s.on_hand_many(ids) == {i: {"": THREADS * ROUNDS} for i in ids}


def _wait_until_blocked(store: Store, pid: int) -> None:
    """Return once backend ``pid`` waits for a lock (asking the server, not guessing a delay)."""
    assert isinstance(store, SqlStore)
    deadline = time.monotonic() + TIMEOUT
    with store.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
            connection.rollback()  # the statistics are a snapshot per transaction
            if waiting == "Lock":
                return
            time.sleep(0.005)
    pytest.fail(f"backend {pid} never waited for a lock")


@pytest.mark.postgres
def test_a_key_recorded_meanwhile_by_another_writer_counts_as_applied(pg_store: Store) -> None:
    """The unique key, not a SKU lock, catches it: no error, the event is simply not new.

    The two writers hold no SKU in common (the same key names another SKU), so only
    the key orders them: the second inserts it while the first has not committed,
    waits for the first, and skips the row once the first commits.
    """
    first_sku, second_sku = _skus(pg_store, "A", "B")
    second_pid: list[int] = []
    started = threading.Event()

    def second() -> list[bool]:
        with pg_store.transaction() as s:
            second_pid.append(s._c.execute(text("SELECT pg_backend_pid()")).scalar_one())
            started.set()
            events = [_count("shared", second_sku, 7), _count("other", second_sku, 1)]
            return s.apply_events(events, NOW)

    with ThreadPoolExecutor(1) as pool:
        with pg_store.transaction() as s:
            assert s.apply_events([_count("shared", first_sku, 5)], NOW) == [True]
            answer = pool.submit(second)
            assert started.wait(TIMEOUT)
            _wait_until_blocked(pg_store, second_pid[0])  # on the key, inside its insert
        # The first writer has committed: the second goes on.
        assert answer.result(timeout=TIMEOUT) == [False, True]
    with pg_store.transaction() as s:
        assert s.on_hand_many([first_sku, second_sku]) == {
            first_sku: {"": 5},
            second_sku: {"": 1},
        }
        assert [e.idempotency_key for e in s.ledger(second_sku)] == ["other"]


# --- the outbox -------------------------------------------------------------------------


def _queue(store: Store, count: int) -> None:
    with store.transaction() as s:
        s.enqueue_many(
            [
                OutboxEntry("tmall", "stock", f"L{n:03}", {"quantity": n}, n % 3)
                for n in range(count)
            ],
            NOW,
        )


def test_concurrent_claimers_never_get_the_same_entry(store: Store) -> None:
    """Every entry is claimed exactly once, however the claimers interleave."""
    _queue(store, 60)

    def work(_worker: int, barrier: threading.Barrier) -> list[int]:
        claimed: list[int] = []
        for _ in range(10):  # 4 claimers x 3 a claim x 10 rounds: twice what is queued
            with store.transaction() as s:
                barrier.wait()
                claimed += [item.id for item in s.claim_due("tmall", "stock", NOW, 3, NOW + LEASE)]
        return claimed

    claims = _race(4, work)
    everything = [item_id for claimed in claims for item_id in claimed]
    assert len(everything) == len(set(everything)) == 60
    with store.transaction() as s:
        items = s.outbox(channel="tmall")
        assert s.due("tmall", "stock", NOW, 100) == []
    assert all(i.next_attempt_at == NOW + LEASE and i.attempts == 0 for i in items)


@pytest.mark.postgres
def test_a_claimer_skips_what_another_is_claiming_without_waiting(pg_store: Store) -> None:
    _queue(pg_store, 5)
    with pg_store.transaction() as first:
        mine = first.claim_due("tmall", "stock", NOW, 2, NOW + LEASE)
        with pg_store.transaction() as second:
            # Waiting for the first claimer's rows would fail here rather than hang.
            second._c.execute(text("SET LOCAL lock_timeout = '2s'"))
            theirs = second.claim_due("tmall", "stock", NOW, 5, NOW + LEASE)
    assert [i.key for i in mine] == ["L000", "L003"]  # urgency 0 first
    assert len(theirs) == 3
    assert {i.id for i in mine}.isdisjoint(i.id for i in theirs)
    with pg_store.transaction() as s:
        assert s.claim_due("tmall", "stock", NOW, 5, NOW + LEASE) == []


def test_an_expired_claim_is_claimable_again(store: Store) -> None:
    _queue(store, 3)
    until = NOW + LEASE
    with store.transaction() as s:
        claimed = s.claim_due("tmall", "stock", NOW, 10, until)
    assert [i.key for i in claimed] == ["L000", "L001", "L002"]  # most urgent first
    assert all(i.next_attempt_at == until for i in claimed)
    just_before = until - timedelta(seconds=1)
    with store.transaction() as s:
        # Leased: due for no one until the lease ends.
        assert s.claim_due("tmall", "stock", just_before, 10, just_before + LEASE) == []
        assert s.due("tmall", "stock", just_before, 10) == []
        # The worker sent one, then died before settling the others.
        assert s.settle(claimed[0].id, claimed[0].version, OutboxState.SENT, now=NOW) is True
    with store.transaction() as s:
        again = s.claim_due("tmall", "stock", until, 10, until + LEASE)
    assert [(i.id, i.version, i.attempts) for i in again] == [
        (i.id, i.version, 0) for i in claimed[1:]
    ]


def test_a_claim_rolled_back_leaves_the_entries_due(store: Store) -> None:
    _queue(store, 2)
    claimed: list[int] = []
    with pytest.raises(RuntimeError, match="before committing"):
        _claim_then_fail(store, claimed)
    assert len(claimed) == 2
    with store.transaction() as s:
        assert len(s.claim_due("tmall", "stock", NOW, 10, NOW + LEASE)) == 2


def _claim_then_fail(store: Store, claimed: list[int]) -> None:
    with store.transaction() as s:
        claimed += [i.id for i in s.claim_due("tmall", "stock", NOW, 10, NOW + LEASE)]
        raise RuntimeError("the worker failed before committing its claim")


def test_a_claim_must_outlast_now(store: Store) -> None:
    with store.transaction() as s, pytest.raises(ValueError, match="beyond now"):
        s.claim_due("tmall", "stock", NOW, 10, NOW)


def test_concurrent_enqueues_of_a_new_target_each_bump_the_version(store: Store) -> None:
    """Writers queueing the same new listing at once: all land, none breaks the constraint."""

    def work(worker: int, barrier: threading.Barrier) -> int:
        with store.transaction() as s:
            barrier.wait()
            payload = {"quantity": worker}
            return s.enqueue(
                channel="tmall", kind="stock", key="L1", payload=payload, urgency=1, now=NOW
            )

    versions = _race(THREADS, work)
    assert sorted(versions) == list(range(1, THREADS + 1))
    with store.transaction() as s:
        (item,) = s.outbox(channel="tmall")
    assert item.version == THREADS
    assert item.payload == {"quantity": versions.index(THREADS)}  # the last one's value


def test_concurrent_parks_of_one_record_keep_one(store: Store) -> None:
    def work(worker: int, barrier: threading.Barrier) -> None:
        with store.transaction() as s:
            barrier.wait()
            s.park(ParkedRecord("tmall", "order", "O-1", f"reason {worker}"), NOW)

    _race(THREADS, work)
    with store.transaction() as s:
        (record,) = s.parked(channel="tmall")
    assert record.key == "O-1"
    assert record.reason in {f"reason {worker}" for worker in range(THREADS)}


def test_concurrent_writers_of_a_new_cursor_keep_one(store: Store) -> None:
    def work(worker: int, barrier: threading.Barrier) -> None:
        with store.transaction() as s:
            barrier.wait()
            s.set_cursor("tmall", "orders", NOW + timedelta(seconds=worker), f"t{worker}")

    _race(THREADS, work)
    with store.transaction() as s:
        since, token = s.cursor("tmall", "orders") or (None, None)
    assert since is not None
    assert token == f"t{int((since - NOW).total_seconds())}"


def test_a_plan_clears_only_the_change_marks_it_saw(store: Store) -> None:
    """A SKU marked changed while a plan ran (another writer's order) stays marked."""
    (mug, cup) = _skus(store, "MUG", "CUP")
    with store.transaction() as s:
        s.clear_changed([mug, cup])
    with store.transaction() as s:
        s.mark_changed([mug, cup])
        ids = s.changed_skus()
        seen = s.change_counts(ids)  # the plan starts: it reads the marks
    with store.transaction() as s:
        s.apply_event(_reserve("reserve:tmall:O-1:MUG", mug, 1, "O-1"), NOW)  # meanwhile
    with store.transaction() as s:
        s.clear_changed(ids, seen)  # the plan ends
        assert s.changed_skus() == [mug]  # the order's change waits for the next pass
        s.clear_changed([mug])
        assert s.changed_skus() == []


def test_a_plan_overtaken_by_a_writer_that_planned_its_sku_leaves_it_marked(store: Store) -> None:
    """A SKU an order's page marked, planned and cleared while a plan ran is marked again.

    The plan read the SKU before the order and writes after it: what it queued for the
    SKU may be stale, so the next pass must plan it again, not find it clean.
    """
    (mug, cup) = _skus(store, "MUG", "CUP")
    with store.transaction() as s:
        s.mark_changed([mug, cup])
        ids = s.changed_skus()
        seen = s.change_counts(ids)  # the plan starts: it reads the marks
    with store.transaction() as s:  # meanwhile an order's page plans its SKU itself
        s.apply_event(_reserve("reserve:tmall:O-1:MUG", mug, 1, "O-1"), NOW)
        s.clear_changed([mug], s.change_counts([mug]))
        assert s.changed_skus() == [cup]
    with store.transaction() as s:
        s.clear_changed(ids, seen)  # the plan ends
        assert s.changed_skus() == [mug]
        s.clear_changed([mug], s.change_counts([mug]))  # the next pass
        assert s.changed_skus() == []
