"""The queue itself: one pending copy per step, flushes committed with their work, stalled jobs."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from procrastinate import App, JobContext, jobs

from channelsync.config import DaemonConfig
from channelsync.engine.pausing import pause_channel
from channelsync.workers.app import SERVICES_KEY, JobServices, Served, _clock
from channelsync.workers.deferring import (
    FLUSH,
    PULL_ORDERS,
    PULL_REFUNDS,
    Deferrer,
    channel_lock,
    queueing_lock,
    task_name,
)
from channelsync.workers.on_commit import FlushOnCommit
from channelsync.workers.running import _first_round, run_worker
from channelsync.workers.stalled import give_back, retry_stalled_jobs

from .queue_world import TUNING, World

pytestmark = pytest.mark.postgres


def enqueue(world: World, channel: str, *, fail: bool = False) -> None:
    """Queue an outbox entry for ``channel``; ``fail``: the transaction fails after it."""
    with world.store.transaction() as session:
        session.enqueue(
            channel=channel,
            kind="stock",
            key=f"{channel}:x",
            payload={"quantity": 1},
            urgency=1,
            now=world.clock.now(),
        )
        if fail:
            raise RuntimeError("the change fails after queueing its work")


async def test_deferring_a_pending_step_again_keeps_one_job(world: World) -> None:
    async with world.queue() as (app, deferrer):
        assert await deferrer.defer(FLUSH, "tmall")
        assert not await deferrer.defer(FLUSH, "tmall")
        assert await deferrer.defer(FLUSH, "jd")  # another channel's is another job
        assert await deferrer.defer(PULL_ORDERS, "tmall")  # and so is another step
        pending = await world.jobs(app, "todo")
    flushes = [job for job in pending if job.queueing_lock == queueing_lock(FLUSH, "tmall")]
    assert len(flushes) == 1
    assert flushes[0].lock == channel_lock(FLUSH, "tmall") == "channel:tmall:flush"
    assert flushes[0].task_kwargs == {"channel": "tmall"}
    assert len(pending) == 3


async def test_a_flush_commits_with_the_work_that_needs_it_and_only_then(world: World) -> None:
    async with world.queue() as (app, deferrer):
        hook = FlushOnCommit(world.store.engine, deferrer, ["tmall", "jd"])
        hook.install()
        try:
            enqueue(world, "tmall")
            with pytest.raises(RuntimeError, match="fails after"):
                enqueue(world, "jd", fail=True)
            enqueue(world, "elsewhere")  # not a channel of these workers
            # A pending flush makes the next one a no-op, and the work still commits.
            enqueue(world, "tmall")
        finally:
            hook.remove()
        pending = await world.jobs(app, "todo")
        enqueue(world, "jd")  # after remove(): nothing is deferred any more
        assert await world.jobs(app, "todo") == pending
    assert [job.task_kwargs["channel"] for job in pending] == ["tmall"]
    assert pending[0].task_name == task_name(FLUSH)
    assert hook.deferred == 1
    with world.store.transaction() as session:
        assert {item.channel for item in session.outbox()} == {"tmall", "elsewhere", "jd"}


async def test_a_killed_workers_pull_is_taken_over_and_its_order_imported_once(
    world: World,
) -> None:
    tmall, jd = world.shops["tmall"], world.shops["jd"]
    order = tmall.place_order([("MUG", 3)], order_id="T-1")
    world.clock.advance(120)
    async with world.queue() as (app, deferrer):
        # A worker takes the pull, imports the order, and is killed before it says so.
        dead = world.runtime()
        await deferrer.defer(PULL_ORDERS, "tmall")
        worker_id = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert job is not None
        assert job.task_name == task_name(PULL_ORDERS)
        await dead.run(PULL_ORDERS, "tmall")
        await dead.close()
        with psycopg.connect(world.conninfo, autocommit=True) as connection:
            connection.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = %s",
                (worker_id,),
            )
        assert (await world.jobs(app, "doing"))[0].id == job.id
        # Its lock is held: no other pull of tmall could start until the job is given back.
        assert await retry_stalled_jobs(app, stalled_after=TUNING.stalled_after) == 1
        assert [j.id for j in await world.jobs(app, "todo")] == [job.id]
        # Another worker runs it again (and the rest of a first round).
        await run_worker(world.app(), world.runtime(), once=True, tuning=TUNING)
        assert not await world.jobs(app, "doing")
        assert not await world.jobs(app, "todo")
    with world.store.transaction() as session:
        assert len([o for o in session.orders(channel="tmall") if o.order_id == "T-1"]) == 1
        (mug,) = session.skus(["MUG"])
        assert session.reservation("tmall", order.order_id, mug.id) == 3
        reserved = [e for e in session.ledger(mug.id) if e.kind == "order_reserved"]
    assert len(reserved) == 1
    assert jd.listing("MUG").quantity == 7


async def test_a_stalled_job_with_a_pending_copy_is_set_aside(world: World) -> None:
    async with world.queue() as (app, deferrer):
        await deferrer.defer(FLUSH, "jd")
        worker_id = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert job is not None
        await deferrer.defer(FLUSH, "jd")  # the clock queued the next one meanwhile
        await app.job_manager.unregister_worker(worker_id)  # gone: its jobs are stalled
        assert await retry_stalled_jobs(app, stalled_after=TUNING.stalled_after) == 0
        assert await app.job_manager.get_job_status_async(job.id) == jobs.Status.ABORTED
        assert len(await world.jobs(app, "todo")) == 1


async def a_stalled_flush(app: App, deferrer: Deferrer) -> tuple[jobs.Job, list[jobs.Job]]:
    """Queue jd's flush, let a worker take it and vanish; return it and a sweep's read."""
    await deferrer.defer(FLUSH, "jd")
    dead = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=None, worker_id=dead)
    assert job is not None
    await app.job_manager.unregister_worker(dead)
    read = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=TUNING.stalled_after)
    assert [stalled.id for stalled in read] == [job.id]
    return job, list(read)


async def test_a_sweep_leaves_a_job_another_sweep_gave_back_and_a_live_worker_took(
    world: World,
) -> None:
    """Two sweeps at once: the slower one must not take the job from its new worker."""
    async with world.queue() as (app, deferrer):
        # What the slower sweep read, before the other one gave the job back.
        job, read = await a_stalled_flush(app, deferrer)
        assert await retry_stalled_jobs(app, stalled_after=TUNING.stalled_after) == 1
        live = await app.job_manager.register_worker()
        taken = await app.job_manager.fetch_job(queues=None, worker_id=live)
        assert taken is not None
        assert taken.id == job.id

        assert await give_back(app, read) == 0
        assert await app.job_manager.get_job_status_async(job.id) == jobs.Status.DOING
        # The live worker's end of the step is recorded as usual.
        await app.job_manager.finish_job(job=taken, status=jobs.Status.SUCCEEDED, delete_job=False)
        assert await app.job_manager.get_job_status_async(job.id) == jobs.Status.SUCCEEDED


async def test_a_sweep_waits_for_a_take_over_committing_and_then_leaves_the_job(
    world: World,
) -> None:
    """The job is looked at and given back in one step: a take-over in between is seen."""
    async with world.queue() as (app, deferrer):
        job, read = await a_stalled_flush(app, deferrer)
        live = await app.job_manager.register_worker()
        with psycopg.connect(world.conninfo) as other:
            # Another sweep gave the job back and a live worker took it: not committed yet.
            other.execute(
                "UPDATE procrastinate_jobs SET worker_id = %s, attempts = attempts + 1 "
                "WHERE id = %s",
                (live, job.id),
            )
            sweep = asyncio.ensure_future(give_back(app, read))
            await until_waiting_for_a_lock(world, other.info.backend_pid)
            other.commit()
        assert await sweep == 0
        assert await app.job_manager.get_job_status_async(job.id) == jobs.Status.DOING
        with psycopg.connect(world.conninfo) as connection:
            row = connection.execute(
                "SELECT worker_id FROM procrastinate_jobs WHERE id = %s", (job.id,)
            ).fetchone()
        assert row == (live,)


async def until_waiting_for_a_lock(world: World, holder: int) -> None:
    """Return once a session waits for a lock that the session ``holder`` holds."""
    with psycopg.connect(world.conninfo, autocommit=True) as connection:
        for _ in range(200):
            (waiting,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (holder,),
            ).fetchone() or (0,)
            if waiting:
                return
            await asyncio.sleep(0.025)
    raise AssertionError("no session waited for the job's lock")


async def test_a_failed_step_with_a_pending_copy_gives_way_instead_of_holding_its_lock(
    world: World,
) -> None:
    """The retry of a failed step meets a pending copy: the copy runs, the lock is free."""
    async with world.queue() as (app, deferrer):
        await deferrer.defer(FLUSH, "jd")
        worker_id = await app.job_manager.register_worker()
        failed = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert failed is not None
        await deferrer.defer(FLUSH, "jd")  # new work queued a copy while it ran
        # What procrastinate's worker does with a step's retry decision.
        await app.job_manager.retry_job(job=failed, retry_at=None)
        assert await app.job_manager.get_job_status_async(failed.id) == jobs.Status.ABORTED
        # Nothing holds jd's flush lock: the copy is the next job a worker gets.
        copy = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert copy is not None
        assert (copy.lock, copy.id != failed.id) == (channel_lock(FLUSH, "jd"), True)
        # Without a copy, a failed step is queued again as before.
        await app.job_manager.retry_job(job=copy, retry_at=None)
        assert await app.job_manager.get_job_status_async(copy.id) == jobs.Status.TODO


async def test_a_paused_channel_is_left_alone_and_a_job_without_its_lock_is_refused(
    world: World,
) -> None:
    tmall, jd = world.shops["tmall"], world.shops["jd"]
    with world.store.transaction() as session:
        pause_channel(session, "tmall", by="ops", reason="stocktake", now=world.clock.now())
    async with world.queue() as (app, deferrer):
        # Queued before the pause was seen, or by hand: the step skips the channel.
        await deferrer.defer(PULL_ORDERS, "tmall")
        # A flush of jd queued without its lock could run beside another: refused.
        await app.tasks[task_name(FLUSH)].defer_async(channel="jd")
        await run_worker(world.app(), world.runtime(), once=True, tuning=TUNING)
        failed = await world.jobs(app, "failed")
    assert tmall.calls == []
    assert [job.task_kwargs for job in failed] == [{"channel": "jd"}]
    assert jd.listing("MUG").quantity == 10  # jd's own first round ran


async def test_once_leaves_a_step_whose_lock_another_running_worker_holds(world: World) -> None:
    async with world.queue() as (app, deferrer):
        await deferrer.defer(PULL_ORDERS, "tmall")
        busy = await app.job_manager.register_worker()  # alive: its heartbeat is fresh
        running_job = await app.job_manager.fetch_job(queues=None, worker_id=busy)
        assert running_job is not None
        await asyncio.wait_for(
            run_worker(world.app(), world.runtime(), once=True, tuning=TUNING), timeout=10
        )
        waiting = await world.jobs(app, "todo")
    # The first round's pulls of tmall (orders and refunds: one lock) wait behind the
    # running one; jd's round was done.
    assert [(job.task_name, job.task_kwargs) for job in waiting] == [
        (task_name(PULL_ORDERS), {"channel": "tmall"}),
        (task_name(PULL_REFUNDS), {"channel": "tmall"}),
    ]
    assert world.shops["jd"].listing("MUG").quantity == 10


async def test_queuing_behind_an_uncommitted_copy_gives_way_instead_of_waiting(
    world: World,
) -> None:
    """A transaction whose flush another open transaction is queuing commits without it.

    The other transaction may be one this process's own event loop must finish (a
    worker's queue connection); waiting on it could never end.
    """
    async with world.queue() as (app, deferrer):
        hook = FlushOnCommit(world.store.engine, deferrer, ["tmall"])
        with psycopg.connect(world.conninfo) as other:
            # Another transaction queues tmall's flush and keeps it open.
            assert deferrer.defer_on(other, FLUSH, "tmall")
            hook.install()
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                enqueue(world, "tmall")
                waited = loop.time() - started
            finally:
                hook.remove()
            assert hook.deferred == 0
            assert waited < 2.0
            other.commit()
        # The work committed, and the other transaction's job is the one pending.
        (pending,) = await world.jobs(app, "todo")
        assert pending.task_kwargs == {"channel": "tmall"}
    with world.store.transaction() as session:
        assert [item.channel for item in session.outbox()] == ["tmall"]


async def test_the_bounded_wait_is_the_deferrals_alone(world: World) -> None:
    async with world.queue() as (_app, deferrer):
        with psycopg.connect(world.conninfo) as first, psycopg.connect(world.conninfo) as second:
            assert deferrer.defer_on(first, FLUSH, "jd")
            assert not deferrer.defer_on(second, FLUSH, "jd")  # gave way to the first
            for connection in (first, second):
                row = connection.execute("SELECT current_setting('lock_timeout')").fetchone()
                assert row == ("0",)


async def test_the_queue_commits_each_statement_as_it_ends(world: World) -> None:
    async with world.queue() as (app, _deferrer), app.connector.pool.connection() as connection:
        assert connection.autocommit


async def test_the_clock_flushes_only_the_channels_with_work(world: World) -> None:
    """A flush of a channel with nothing due would only read an empty outbox."""
    settings = DaemonConfig(flush_interval=1, pull_interval=3600, stale_after=7200)
    async with world.queue() as (app, deferrer):
        runtime = world.runtime(settings)
        enqueue(world, "tmall")  # written by another command: no job, the clock's to find
        assert runtime.flushes_wanted() == {"tmall"}
        services = JobServices({"default": Served(runtime, deferrer)}, TUNING)
        tick = jobs.Job(id=1, queue="channelsync", lock=None, queueing_lock=None, task_name="t")
        context = JobContext(
            app=app,
            job=tick,
            start_timestamp=0.0,
            abort_reason=lambda: None,
            additional_context={SERVICES_KEY: services},
        )
        await _clock(context, timestamp=1_800_000_000)
        queued = await world.jobs(app, "todo")
        flushes = [job for job in queued if job.task_name == task_name(FLUSH)]
    assert [job.task_kwargs["channel"] for job in flushes] == ["tmall"]


def test_a_worker_starts_by_pulling_every_channel_and_flushing_only_those_with_work(
    world: World,
) -> None:
    """Empty first flushes of hundreds of channels would outrank, and hold back, the pulls."""
    runtime = world.runtime()
    enqueue(world, "tmall")

    first = _first_round(runtime)

    assert sorted(first) == [
        (FLUSH, "tmall"),
        (PULL_ORDERS, "jd"),
        (PULL_ORDERS, "tmall"),
        (PULL_REFUNDS, "jd"),
        (PULL_REFUNDS, "tmall"),
    ]
