"""The procrastinate app of the workers: one task per channel step, and the periodic ones.

:func:`build_app` registers, on an app whose connector reaches the store's database:

* ``channelsync.pull_orders``, ``channelsync.pull_refunds``, ``channelsync.flush``,
  ``channelsync.reconcile`` and ``channelsync.answer_events`` (the reads that answer
  the marketplace events a worker's listener received, see
  :mod:`~channelsync.workers.listening`), each taking the channel's name. A job must carry its
  channel's lock (queue steps with :class:`~channelsync.workers.deferring.Deferrer`):
  a job without it is refused rather than run beside its twin. After a step that
  queued outbox work, the flush of each channel concerned is deferred (the pull's own
  transactions deferred it already, see :mod:`~channelsync.workers.on_commit`; this
  covers a runtime used without that hook). A failed step is retried after a growing
  wait (the step's interval, doubled each time, at most ``[daemon] max_backoff``), a
  few times; then the clock queues it again at its next turn. While a retry waits it
  keeps its place: later jobs of the same lock queue behind it. Each step takes its
  channel's lease first (:mod:`~channelsync.workers.fencing`): a job whose lease
  another job took commits nothing and ends as superseded.
* the periodic tasks: the **clock** (:mod:`~channelsync.workers.clock`), every tick;
  the **stalled-job sweep** (:mod:`~channelsync.workers.stalled`); the hourly
  **erasure** of buyers' personal data past retention, as the daemon does.

Flushes outrank pulls, which outrank listing reads, when a worker has more due jobs
than room: stock changes are what keep the last units from being sold twice.

One worker process may serve several workspaces (one configuration each): a step job
carries its workspace (``default`` when it names none) and runs on that workspace's
runtime. The periodic tasks belong to the *set* of workspaces a worker serves
(:func:`~channelsync.workers.clock.clock_group`): one clock tick, one sweep and one
erasure for the whole set, in the set's own queue with queueing locks of its own, so
a cluster of 200 merchants queues one tick every few seconds rather than 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate import App, BaseRetryStrategy, JobContext, PsycopgConnector, RetryDecision
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Job

from channelsync.config import DEFAULT_WORKSPACE, DaemonConfig
from channelsync.errors import ConfigurationError, RateLimitedError, UsageError
from channelsync.workers.clock import cadences, clock_group, cron, due, group_tick
from channelsync.workers.clock_reads import ClockRead, read_clock_views
from channelsync.workers.deferring import (
    ANSWER_EVENTS,
    FLUSH,
    PULL_ORDERS,
    PULL_REFUNDS,
    QUEUE,
    RECONCILE,
    Deferrer,
    channel_lock,
    group_queue,
    queue_of,
    task_name,
    workspace_key,
)
from channelsync.workers.fencing import LeaseLostError, fenced
from channelsync.workers.manager import StepJobManager
from channelsync.workers.runtime import ClockView, WorkerRuntime, is_lock_conflict
from channelsync.workers.stalled import retry_stalled_jobs

__all__ = [
    "CLOCK_TASK",
    "PRIVACY_TASK",
    "SERVICES_KEY",
    "STALLED_TASK",
    "JobServices",
    "Served",
    "StepRetry",
    "WorkerTuning",
    "build_app",
]

CLOCK_TASK = "channelsync.clock"
STALLED_TASK = "channelsync.retry_stalled_jobs"
PRIVACY_TASK = "channelsync.erase_personal_data"
#: Where a job finds the worker's :class:`JobServices` (procrastinate's additional context).
SERVICES_KEY = "channelsync"

#: Workspaces a clock tick queues the steps of at once (each holds a queue connection).
_TICK_WIDTH = 4
# An event's read brings one order in seconds: ahead of the pulls that backstop it.
_PRIORITY = {FLUSH: 30, ANSWER_EVENTS: 25, PULL_ORDERS: 20, PULL_REFUNDS: 20, RECONCILE: 10}


@dataclass(frozen=True, slots=True)
class WorkerTuning:
    """The queue's own timings, in seconds (the configuration's ``[daemon]`` sets the rest).

    ``heartbeat_every`` is how often a worker tells it is alive; ``stalled_after`` how
    long a silent worker's jobs wait before another worker takes them (long enough
    that a busy worker is not mistaken for a dead one: a step run twice is harmless
    but wasteful); ``sweep_every`` how often the stalled jobs are looked for (it
    divides a minute); ``poll_every`` how often a worker looks for jobs when no
    notification came; ``retries`` how often a failed step is tried again.
    """

    heartbeat_every: float = 10.0
    stalled_after: float = 60.0
    sweep_every: int = 15
    poll_every: float = 5.0
    retries: int = 5


@dataclass(frozen=True, slots=True)
class Served:
    """One workspace a worker serves: its runtime and the deferrer of its jobs."""

    runtime: WorkerRuntime
    deferrer: Deferrer


@dataclass(frozen=True, slots=True)
class JobServices:
    """What the jobs of one worker process use: each workspace it serves, its timings."""

    workspaces: Mapping[str, Served]
    tuning: WorkerTuning

    @property
    def group(self) -> str:
        """The key of the clock of this worker's set of workspaces (see ``clock_group``)."""
        return clock_group(self.workspaces)

    def ticked(self, workspace: str, group: str | None) -> list[Served]:
        """Return the workspaces a periodic job is for: its set's, or the one it names.

        A job of another set reached this worker only through a configuration that
        differs from the one its queue was made for: it is refused, not run on the
        wrong workspaces.
        """
        if group is None:
            return [self.of(workspace)]
        if group != self.group:
            raise ConfigurationError(
                f"a periodic job of the workspaces {group!r} reached a worker serving "
                f"{', '.join(self.workspaces)} ({self.group!r}); the workers sharing a "
                "queue must serve the same workspaces",
                field="store.workspace",
            )
        return list(self.workspaces.values())

    def of(self, workspace: str) -> Served:
        """Return the workspace a job names; refuse one this worker does not serve."""
        found = self.workspaces.get(workspace)
        if found is None:
            raise ConfigurationError(
                f"a job of workspace {workspace!r} reached a worker that serves "
                f"{', '.join(self.workspaces) or 'none'}",
                field="store.workspace",
            )
        return found


class StepRetry(BaseRetryStrategy):
    """The daemon's backoff for a failed step: ``first``, doubled each time, at most ``ceiling``.

    A step cut short by the worker's shutdown is queued again at once; a step that
    cannot work with this configuration (an unknown channel, a job without its lock)
    is not retried. A throttled step waits at least what the marketplace asked for; a
    step whose transaction PostgreSQL chose as a deadlock's victim goes again in a second.
    """

    def __init__(self, *, first: float, ceiling: float, retries: int) -> None:
        self.first = first
        self.ceiling = ceiling
        self.retries = retries

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """Return when to run ``job`` again after ``exception``, or ``None`` to let it fail."""
        if isinstance(exception, asyncio.CancelledError | queue_errors.JobAborted):
            return RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, ConfigurationError | UsageError):
            return None
        if job.attempts >= self.retries:
            return None
        if is_lock_conflict(exception):
            # Another worker's transaction met this one's: gone once PostgreSQL broke it.
            return RetryDecision(retry_in={"seconds": 1})
        wait = min(self.ceiling, self.first * 2.0**job.attempts)
        if isinstance(exception, RateLimitedError) and exception.retry_after:
            wait = max(wait, exception.retry_after)
        return RetryDecision(retry_in={"milliseconds": round(wait * 1000)})


class WorkspaceRetry(BaseRetryStrategy):
    """The backoff of the job's own workspace, whose ``[daemon]`` settings may differ."""

    def __init__(self, strategies: Mapping[str, StepRetry]) -> None:
        self.strategies = dict(strategies)

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """Return the decision of the strategy of ``job``'s workspace."""
        workspace = job.task_kwargs.get("workspace", DEFAULT_WORKSPACE)
        strategy = self.strategies.get(str(workspace)) or next(iter(self.strategies.values()))
        return strategy.get_retry_decision(exception=exception, job=job)


def build_app(
    conninfo: str,
    settings: DaemonConfig | None = None,
    *,
    tuning: WorkerTuning | None = None,
    periodic: bool = True,
    max_connections: int = 10,
    workspaces: Mapping[str, DaemonConfig] | None = None,
) -> App:
    """Return the workers' procrastinate app on the database at ``conninfo`` (not yet open).

    ``workspaces`` maps each workspace the worker serves to its config's ``[daemon]``
    intervals (default: ``default`` with ``settings``). Without ``periodic`` the app
    has no clock, sweep or erasure (``channelsync worker --once``).
    """
    tuning = tuning or WorkerTuning()
    served = dict(workspaces or {DEFAULT_WORKSPACE: settings or DaemonConfig()})
    # Autocommit: each of the queue's statements commits on the server as it ends. Left
    # to the pool, a statement's transaction would stay open until this process's event
    # loop returns the connection; a synchronous store transaction waiting in that loop
    # for the row the statement wrote (a pending job's queueing lock) would then wait
    # for ever on its own process.
    app = App(
        connector=PsycopgConnector(
            conninfo=conninfo, min_size=1, max_size=max_connections, configure=_autocommit
        )
    )
    app.job_manager = StepJobManager(connector=app.connector)
    for step, function in _STEP_TASKS.items():
        retries = {name: _step_retry(its, step, tuning) for name, its in served.items()}
        retry = next(iter(retries.values())) if len(retries) == 1 else WorkspaceRetry(retries)
        app.task(
            name=task_name(step),
            queue=QUEUE,
            priority=_PRIORITY[step],
            pass_context=True,
            retry=retry,
        )(function)
    if periodic:
        for name, job, priority in (
            (CLOCK_TASK, _clock, 50),
            (STALLED_TASK, _sweep, 40),
            (PRIVACY_TASK, _erase, 0),
        ):
            # No lock: a worker killed while running a tick would hold it until the
            # sweep gives its job back, and every channel's clock would stop meanwhile.
            # Each tick is deferred once per cluster anyway, two ticks running together
            # queue each step once (queueing locks), and the sweep and the erasure are
            # safe to run twice.
            task = app.task(
                name=name,
                queue=QUEUE,
                priority=priority,
                pass_context=True,
                queueing_lock=name,
            )(job)
            schedule = {
                CLOCK_TASK: cron(group_tick(served.values())),
                STALLED_TASK: cron(tuning.sweep_every),
                # Hourly, at a minute no other periodic job of the hour is likely to use.
                PRIVACY_TASK: "17 * * * *",
            }[name]
            group = clock_group(served)
            if not group:
                app.periodic(cron=schedule)(task)
                continue
            # One job per tick for the whole set of workspaces, on its own workers.
            app.periodic(
                cron=schedule,
                periodic_id=group,
                queue=group_queue(group),
                queueing_lock=f"{name}+{group}",
                task_kwargs={"group": group},
            )(task)
    return app


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    """Set a new queue connection to commit each statement (see :func:`build_app`)."""
    await connection.set_autocommit(True)


def _step_retry(settings: DaemonConfig, step: str, tuning: WorkerTuning) -> StepRetry:
    """Return the backoff of ``step`` under one configuration's intervals."""
    interval = {
        PULL_ORDERS: settings.pull_interval,
        PULL_REFUNDS: settings.pull_interval,
        FLUSH: settings.flush_interval,
        RECONCILE: settings.reconcile_interval,
        # An event's read retried soon: polling is its backstop, not its replacement.
        ANSWER_EVENTS: min(settings.flush_interval, settings.pull_interval),
    }[step]
    first = min(interval, settings.max_backoff)
    return StepRetry(first=first, ceiling=settings.max_backoff, retries=tuning.retries)


def _services(context: JobContext) -> JobServices:
    """Return the worker's services a job runs with."""
    found = context.additional_context.get(SERVICES_KEY)
    if not isinstance(found, JobServices):
        raise UsageError(
            "channelsync jobs run in `channelsync worker` (or channelsync.workers.running), "
            "which gives them the engine; this worker has none"
        )
    return found


async def _step(
    context: JobContext, step: str, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    expected = channel_lock(step, channel, workspace)
    if context.job.lock != expected:
        raise UsageError(
            f"a {step} job of channel {workspace_key(channel, workspace)!r} was queued "
            f"without its lock {expected!r}, so it could run beside another; queue steps "
            "with channelsync.workers.deferring.Deferrer"
        )
    served = _services(context).of(workspace)
    runtime = served.runtime
    with runtime.busy():
        holder = f"{context.worker_name or 'worker'} job {context.job.id}"
        try:
            with fenced(runtime.lease(step, channel, holder)):
                outcome = await runtime.run(step, channel)
        except LeaseLostError as error:
            # The job was given to another worker while this one seemed dead: that
            # worker's job does the step; this one ends without a retry of its own.
            return {"superseded": str(error)}
        known = runtime.channels
        flushes = [(FLUSH, name) for name in sorted(outcome.flush) if name in known]
        await served.deferrer.defer_many(flushes)
    return outcome.summary


async def _pull_orders(
    context: JobContext, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    return await _step(context, PULL_ORDERS, channel, workspace)


async def _pull_refunds(
    context: JobContext, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    return await _step(context, PULL_REFUNDS, channel, workspace)


async def _flush(
    context: JobContext, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    return await _step(context, FLUSH, channel, workspace)


async def _reconcile(
    context: JobContext, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    return await _step(context, RECONCILE, channel, workspace)


async def _answer_events(
    context: JobContext, channel: str, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    return await _step(context, ANSWER_EVENTS, channel, workspace)


_STEP_TASKS = {
    PULL_ORDERS: _pull_orders,
    PULL_REFUNDS: _pull_refunds,
    FLUSH: _flush,
    RECONCILE: _reconcile,
    ANSWER_EVENTS: _answer_events,
}


async def _clock(
    context: JobContext,
    timestamp: int,
    workspace: str = DEFAULT_WORKSPACE,
    group: str | None = None,
) -> dict[str, int]:
    """Queue every step whose interval ended in the tick up to ``timestamp``.

    The steps of every workspace of the worker's set (``group``), or of the one named.
    """
    chosen = _services(context).ticked(workspace, group)
    tick = group_tick(served.runtime.settings for served in chosen)
    planned = [(served, _due(served.runtime, timestamp, tick)) for served in chosen]
    planned = [(served, steps) for served, steps in planned if steps]
    # The clock's flush looks for retries whose time came and work written without a
    # job (by other commands): only where there is some. One read for every workspace
    # (on PostgreSQL one statement), off the event loop.
    reads = [
        ClockRead(
            served.runtime,
            flushes=any(step == FLUSH for step, _ in steps),
            answers=any(step == ANSWER_EVENTS for step, _ in steps),
        )
        for served, steps in planned
    ]
    views = await asyncio.to_thread(read_clock_views, reads) if reads else {}
    # Workspaces side by side: one after the other, each waiting for its deferrals on a
    # worker's busy loop, a tick of hundreds outlasted its period.
    room = asyncio.Semaphore(_TICK_WIDTH)

    async def one(served: Served, steps: list[tuple[str, str]]) -> tuple[int, int]:
        async with room:
            return await _tick(served, steps, views[served.runtime.workspace])

    counts = await asyncio.gather(*(one(served, steps) for served, steps in planned))
    return {"due": sum(due for due, _ in counts), "queued": sum(q for _, q in counts)}


def _due(runtime: WorkerRuntime, timestamp: int, tick: int) -> list[tuple[str, str]]:
    """Return a workspace's steps whose interval ended in the tick up to ``timestamp``."""
    kept = cadences(
        runtime.channels,
        runtime.settings,
        reconcile=runtime.reconcile_step is not None,
        workspace=runtime.workspace,
    )
    return due(kept, timestamp, tick)


async def _tick(served: Served, steps: list[tuple[str, str]], view: ClockView) -> tuple[int, int]:
    """Queue one workspace's due steps its view keeps; return how many were due and queued."""
    # Events are answered when they come: the clock's look is for those a failed read
    # or a pause left behind.
    wanted = {FLUSH: view.flushes, ANSWER_EVENTS: view.answers}
    steps = [
        (step, name)
        for step, name in steps
        if name not in view.paused and (step not in wanted or name in wanted[step])
    ]
    return len(steps), await served.deferrer.defer_many(steps)


async def _sweep(
    context: JobContext,
    timestamp: int,
    workspace: str = DEFAULT_WORKSPACE,
    group: str | None = None,
) -> dict[str, int]:
    """Queue again the jobs of the workspaces' workers that stopped beating."""
    del timestamp  # every sweep looks at the jobs stalled now
    services = _services(context)
    chosen = services.ticked(workspace, group)
    queues = [queue_of(served.runtime.workspace) for served in chosen]
    if group:
        queues.append(group_queue(group))
    stalled_after = services.tuning.stalled_after
    return {
        "retried": await retry_stalled_jobs(context.app, stalled_after=stalled_after, queues=queues)
    }


async def _erase(
    context: JobContext,
    timestamp: int,
    workspace: str = DEFAULT_WORKSPACE,
    group: str | None = None,
) -> dict[str, int]:
    """Erase the workspaces' buyers' personal data past their retention."""
    del timestamp
    erased = 0
    for served in _services(context).ticked(workspace, group):
        erased += await asyncio.to_thread(served.runtime.erase_personal_data)
    return {"erased": erased}
