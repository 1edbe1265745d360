"""Running one worker process: checks first, then procrastinate's worker until stopped.

:func:`run_worker` refuses to start when the queue's tables are missing (``channelsync
store migrate`` installs them) or when a ``channelsync run`` daemon holds the store's
lock (one process and a cluster must not work one store at once). It then installs
the on-commit hook on the store's engine, queues a first pull and flush of every
channel that is not paused (the daemon starts with them too; pending copies are not
doubled), runs the events listeners this worker gets the locks of
(:mod:`~channelsync.workers.listening`), and runs procrastinate's worker on the
workspaces' queues.

``stop`` (set by the command's SIGTERM or SIGINT handler) stops it as the daemon
stops: no new job starts, the jobs running may finish for ``shutdown_grace`` seconds,
and those still running then are cancelled and queued again at once (a step cut short
is repeated safely). With ``once`` it first gives back the jobs of stopped workers,
then works until no job is running here and none is left that it could run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from procrastinate import App
from procrastinate.app import WorkerOptions

from channelsync.config import DEFAULT_WORKSPACE
from channelsync.errors import ConfigurationError, UsageError
from channelsync.store import SqlStore, StoreLockedError, lock_holder
from channelsync.workers.app import SERVICES_KEY, JobServices, Served, WorkerTuning
from channelsync.workers.clock import cadences, clock_group
from channelsync.workers.clock_reads import ClockRead, read_clock_views
from channelsync.workers.deferring import (
    ANSWER_EVENTS,
    FLUSH,
    QUEUE,
    RECONCILE,
    Deferrer,
    group_queue,
    queue_of,
)
from channelsync.workers.extra import conninfo
from channelsync.workers.fencing import FenceOnCommit
from channelsync.workers.listening import ClusterListeners, listened_channels
from channelsync.workers.on_commit import FlushOnCommit
from channelsync.workers.pacing import install_shared_pacing
from channelsync.workers.runtime import ClockView, WorkerRuntime
from channelsync.workers.schema import queue_schema_installed
from channelsync.workers.stalled import retry_stalled_jobs

__all__ = ["run_worker"]

logger = logging.getLogger(__name__)

# How often --once looks whether work is left, and how many quiet looks end it.
_IDLE_LOOK = 0.1
_QUIET_LOOKS = 2


async def run_worker(
    app: App,
    runtime: WorkerRuntime | Sequence[WorkerRuntime],
    *,
    concurrency: int = 8,
    once: bool = False,
    tuning: WorkerTuning | None = None,
    stop: asyncio.Event | None = None,
    name: str | None = None,
) -> None:
    """Work the queue of ``app`` (not yet open) with ``runtime`` until ``stop`` is set.

    ``runtime`` may be several, one per workspace this worker serves (each with its
    own store and channels, of one database); the worker then takes the jobs of all
    their queues. Raises :class:`~channelsync.errors.ConfigurationError` when the
    queue's tables are missing and :class:`~channelsync.store.StoreLockedError` while
    a daemon holds one of the workspaces. The runtimes' channels are closed when it
    returns.
    """
    tuning = tuning or WorkerTuning()
    stop = stop or asyncio.Event()
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    runtimes = [runtime] if isinstance(runtime, WorkerRuntime) else list(runtime)
    stores = _stores(runtimes)
    for served, store in zip(runtimes, stores, strict=True):
        # Before any job opens a channel: its transport takes the limiter when it opens.
        install_shared_pacing(served.channels.values(), store)
    queues = [queue_of(served.workspace) for served in runtimes]
    group = clock_group(served.workspace for served in runtimes)
    if group:
        queues.append(group_queue(group))  # the set's periodic jobs
    async with app.open_async():
        if not await queue_schema_installed(app):
            raise ConfigurationError(
                "the job queue's tables are not in the store's database: run "
                "`channelsync store migrate` with this configuration first",
                field="store.url",
            )
        _refuse_held(runtimes, stores)
        services = {r.workspace: Served(r, Deferrer(app, r.workspace)) for r in runtimes}
        hooks: list[FlushOnCommit | FenceOnCommit] = [
            FlushOnCommit(store.engine, services[served.workspace].deferrer, served.channels)
            for served, store in zip(runtimes, stores, strict=True)
        ]
        hooks += [FenceOnCommit(store.engine) for store in stores]
        for hook in hooks:
            hook.install()
        try:
            if once:
                await retry_stalled_jobs(app, stalled_after=tuning.stalled_after, queues=queues)
            # What every workspace starts with, read at once (one statement on PostgreSQL).
            views = read_clock_views([ClockRead(r, flushes=True, answers=True) for r in runtimes])
            for found in services.values():
                view = views[found.runtime.workspace]
                await found.deferrer.defer_many(_first_round(found.runtime, view))
            options: WorkerOptions = {
                "queues": queues,
                "name": name,
                "concurrency": concurrency,
                "wait": True,
                "fetch_job_polling_interval": tuning.poll_every,
                "update_heartbeat_interval": tuning.heartbeat_every,
                # Pruning a worker makes its jobs stalled at once: the same patience.
                "stalled_worker_timeout": tuning.stalled_after,
                "shutdown_graceful_timeout": max(r.settings.shutdown_grace for r in runtimes),
                "delete_jobs": "successful",
                "install_signal_handlers": False,
                "additional_context": {SERVICES_KEY: JobServices(services, tuning)},
            }
            _log_start(runtimes)
            listeners = None if once else _listen(services, stores[0], tuning, stop, name)
            try:
                await _work(app, runtimes, options, stop, once=once)
            finally:
                if listeners is not None:
                    listeners.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await listeners
        finally:
            for hook in hooks:
                hook.remove()
            for served in runtimes:
                await served.close()
            logger.info("worker stopped")


def _refuse_held(runtimes: Sequence[WorkerRuntime], stores: Sequence[SqlStore]) -> None:
    """Refuse to start while a ``channelsync run`` daemon holds one of the workspaces."""
    for served, store in zip(runtimes, stores, strict=True):
        holder = lock_holder(store.engine, served.engine.context.clock.now())
        if holder is not None:
            raise StoreLockedError(holder, workspace=served.workspace)


def _log_start(runtimes: Sequence[WorkerRuntime]) -> None:
    for served in runtimes:
        of = "" if served.workspace == DEFAULT_WORKSPACE else f" of {served.workspace}"
        logger.info(
            "worker started with %d channel(s)%s: %s",
            len(served.channels),
            of,
            ", ".join(served.channels) or "none",
        )


def _listen(
    services: dict[str, Served],
    store: SqlStore,
    tuning: WorkerTuning,
    stop: asyncio.Event,
    name: str,
) -> asyncio.Task[None] | None:
    """Start the events listeners of the served channels that listen; ``None``: none does."""
    heard = listened_channels([(found.runtime, found.deferrer) for found in services.values()])
    if not heard:
        return None
    url = store.engine.url.render_as_string(hide_password=False)
    listeners = ClusterListeners(
        conninfo(url), heard, look_every=tuning.heartbeat_every, stopping=stop, worker=name
    )
    return asyncio.create_task(listeners.run(), name="listeners")


def _stores(runtimes: Sequence[WorkerRuntime]) -> list[SqlStore]:
    """Return each runtime's SQL store; refuse another kind, or a workspace given twice."""
    workspaces = [served.workspace for served in runtimes]
    if not runtimes or len(set(workspaces)) != len(workspaces):
        raise ConfigurationError(
            f"a worker serves each workspace once; given: {', '.join(workspaces) or 'none'}",
            field="store.workspace",
        )
    stores = []
    for served in runtimes:
        store = served.engine.store
        if not isinstance(store, SqlStore):
            raise UsageError("workers need the SQL store of a PostgreSQL database")
        stores.append(store)
    return stores


def _first_round(runtime: WorkerRuntime, view: ClockView | None = None) -> list[tuple[str, str]]:
    """Return the pulls of every channel not paused (the daemon starts with them).

    And its flush where it has work, and the answer to its events where some are left
    unanswered. A flush with nothing due reads an empty outbox; queued for every
    channel of hundreds of merchants, those flushes outrank the pulls and hold every
    order back until they are done (800 channels: minutes). The pull plans what it
    binds and queues the flushes that then have work. ``view`` is the workspace's
    clock view with flushes and answers, when read already (else it is read here).
    """
    if view is None:
        view = runtime.clock_view(flushes=True, answers=True)
    wanted = {FLUSH: view.flushes, ANSWER_EVENTS: view.answers}
    return [
        (cadence.step, cadence.channel)
        for cadence in cadences(runtime.channels, runtime.settings, reconcile=False)
        if cadence.channel not in view.paused
        and cadence.step != RECONCILE
        and cadence.channel in wanted.get(cadence.step, (cadence.channel,))
    ]


async def _work(
    app: App,
    runtimes: Sequence[WorkerRuntime],
    options: WorkerOptions,
    stop: asyncio.Event,
    *,
    once: bool,
) -> None:
    """Run procrastinate's worker until ``stop`` (or, ``once``, until idle), then stop it."""
    worker = asyncio.create_task(app.run_worker_async(**options), name="worker")
    ends: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait(), name="stop")]
    if once:
        queues = list(options.get("queues") or [QUEUE])
        ends.append(asyncio.create_task(_idle(app, runtimes, queues), name="idle"))
    try:
        await asyncio.wait([worker, *ends], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for end in ends:
            end.cancel()
        if not worker.done():
            if stop.is_set():
                logger.info("stopping: finishing the work in flight")
            # procrastinate stops a cancelled worker gracefully: no new job, then waits.
            worker.cancel()
        await asyncio.wait([worker])
    error = None if worker.cancelled() else worker.exception()
    if error is not None:
        raise error


async def _idle(app: App, runtimes: Sequence[WorkerRuntime], queues: Sequence[str]) -> None:
    """Return once nothing runs here and no job is left that could run, two looks running.

    A job that waits for its time (a retry), or for its lock (held by another worker's
    running job, or by an earlier job of the lock that waits for its time), is not
    this run's to wait for.
    """
    quiet, started = 0, -1
    while quiet < _QUIET_LOOKS:
        await asyncio.sleep(_IDLE_LOOK)
        active = sum(runtime.active for runtime in runtimes)
        begun = sum(runtime.started for runtime in runtimes)
        if active or begun != started:
            quiet, started = 0, begun
            continue
        manager = app.job_manager
        blocked = {
            job.lock
            for queue in queues
            for job in await manager.list_jobs_async(queue=queue, status="doing")
        }
        now = datetime.now(UTC)
        ready = False
        todo = [
            job
            for queue in queues
            for job in await manager.list_jobs_async(queue=queue, status="todo")
        ]
        # In the order procrastinate takes them: the earlier job of a lock goes first.
        for job in sorted(todo, key=lambda job: job.id or 0):
            due = job.scheduled_at is None or job.scheduled_at <= now
            if job.lock is not None and job.lock in blocked:
                continue
            if due:
                ready = True
                break
            blocked.add(job.lock)
        quiet = 0 if ready else quiet + 1
