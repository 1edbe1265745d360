"""Chaos across workers: ``channelsync worker`` processes SIGKILLed at random under load.

:func:`run_worker_chaos` is :func:`~channelsync.testing.chaos.run_chaos` for the job
queue. The same served fakes, buyers, last-unit races and shipments, and the same
end-state checks; but the channels are worked by K ``channelsync worker`` processes
(default 3) sharing a procrastinate queue in a PostgreSQL schema of the run's own,
prepared with ``channelsync store migrate``. At seeded random moments a random worker
is killed with SIGKILL and a replacement started; after the last kill the workers are
left running until every order is imported, every change and shipment sent and every
channel shows what the engine planned (or a timeout), then stopped with SIGTERM, each
of which must exit 0. Then an engine in the harness takes over as in the daemon run,
to see the re-inflation guard's holds released, and the end state is judged.

One more check than the daemon run's: no marketplace throttled a call because its own
rate limit was spent, counted at the fakes (:attr:`ChaosResult.throttles`). A channel's
steps move between processes, so this is where rate limits not shared by the workers
(:mod:`channelsync.workers.pacing`) would show.

The first K workers are started as the real command; every replacement is forked from
a spawner process that imported channelsync and the workers' modules once (see
:mod:`~channelsync.testing.chaos`), each still a separate process running
``channelsync worker``. With ``events`` (the default) every fake that pushes serves its
push service and the workers listen to it (one listener per channel across the
cluster, :mod:`~channelsync.workers.listening`), so the kills also land between an
event's commit to the inbox, its acknowledgement, the queuing of its read and the read.

The job figures come from the queue's own table. procrastinate deletes a job that
succeeded, so the harness installs a trigger in its schema that logs every job's
changes of status in a table of its own (``chaos_job_log``, see
:mod:`~channelsync.testing.chaos_queue`). The jobs a killed worker was running stay
``doing``, holding their channel's step lock, until the stalled-job sweep gives them
back: ``stalled_after`` after the worker's last heartbeat, on the sweep's next turn.
The run's configuration sets them shorter than the defaults (:data:`WORKERS`: a
heartbeat every 2 s, taken for dead after 10 s, swept every 5 s), so a killed worker's
channels wait seconds rather than a minute, and a worker that a loaded machine starves
of its event loop for 10 s is taken for dead while it still works: the lease epochs
must then fence it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import update

from channelsync.bootstrap import build_engine, open_state
from channelsync.config import load_config
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import SqlStore, Store
from channelsync.store.schema import rate_slots
from channelsync.testing.chaos import (
    _as_the_daemon_saw_it,
    _Chaos,
    _config_toml,
    _Daemon,
    _first_sync_done,
    _memory,
    _serve_events,
    _Spawner,
    _spawner_main,
)
from channelsync.testing.chaos_checks import (
    _check_end,
    _check_plan,
    _check_throttles,
    _converged,
    _in_process_engine,
    _MovableClock,
    _take_over,
    _unsettled,
)
from channelsync.testing.chaos_queue import (
    _install_job_log,
    _job_figures,
    _migrate,
    _schema,
    _since_last_tick,
    _stalled_figures,
)
from channelsync.testing.chaos_world import (
    _DAEMON,
    _RACE_SKU,
    ChaosResult,
    _catalogue,
    _extend_fakes,
    _Run,
    _shops,
    _tidy,
)
from channelsync.workers.extra import conninfo, require_procrastinate

__all__ = ["WORKERS", "WorkerChaosResult", "run_worker_chaos"]

#: The server the run makes its schema on when none is named (the test suites' own).
DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/test"

#: The queue's timings of the run's workers (the ``[workers]`` table).
WORKERS = {"heartbeat_every": 2, "stalled_after": 10, "sweep_every": 5}
#: Seconds without a clock tick after which the workers are taken as stuck: a tick is
#: due every second and no worker's death holds the next one back, so this is long
#: past any pause of a healthy cluster (and past a sweep's give-back, which this run
#: makes take 15 s at most).
_FROZEN = 30.0


@dataclass
class WorkerChaosResult(ChaosResult):
    """The figures of a chaos run across workers (see :class:`ChaosResult`)."""

    workers: int = 0
    """Worker processes kept running at once."""
    restarts: int = 0
    """Replacement workers started after a kill."""
    jobs: Counter[str] = field(default_factory=Counter)
    """Jobs by change of status, from the queue's table (``deferred``, ``todo>doing``, …)."""
    jobs_run: Counter[str] = field(default_factory=Counter)
    """Jobs started, by task."""
    given_back: int = 0
    """Jobs of killed workers the stalled-job sweep queued again (the workers' logs)."""
    superseded: int = 0
    """Jobs of killed workers a pending copy did instead (the workers' logs)."""
    left_running: int = 0
    """Jobs still marked running after the stop: killed workers' not yet given back."""
    clock_gap_seconds: float = 0.0
    """The longest wait between two clock ticks run (one is due every second or so)."""
    rate_limit_problems: list[str] = field(default_factory=list)
    """The problems that are throttling answers (also in :attr:`problems`)."""
    liveness_problems: list[str] = field(default_factory=list)
    """The problems of the workers not converging by themselves or not stopping on
    SIGTERM (also in :attr:`problems`; the end state is still judged after a take-over)."""
    first_sync_seconds: float = 0.0
    """From the first workers' start to every listing bound and sent."""
    stream_seconds: float = 0.0
    """The order stream and the kills, from the first race to the last replacement."""
    database: str = ""
    """The PostgreSQL schema the run worked in (dropped at the end unless kept)."""

    def _more_lines(self) -> list[str]:
        run = self.jobs.get("todo>doing", 0)
        by_task = ", ".join(
            f"{task.removeprefix('channelsync.')} {n}" for task, n in self.jobs_run.most_common()
        )
        return [
            f"  workers: {self.workers} at once, {self.restarts} replacements started; "
            f"schema {self.database}",
            f"  jobs queued: {self.jobs.get('deferred', 0)}, run: {run}"
            + (f" ({by_task})" if by_task else ""),
            f"  jobs succeeded: {self.jobs.get('succeeded', 0)}, failed for good: "
            f"{self.jobs.get('doing>failed', 0)}, queued again (retries, stops, stalled): "
            f"{self.jobs.get('doing>todo', 0)}, aborted: {self.jobs.get('doing>aborted', 0)}",
            f"  jobs of killed workers given back by the sweep: {self.given_back}, done by "
            f"a pending copy instead: {self.superseded}, still marked running at the end: "
            f"{self.left_running}",
            f"  longest wait between two clock ticks run: {self.clock_gap_seconds:.1f}s",
            f"  first sync: {self.first_sync_seconds:.1f}s, order stream and kills: "
            f"{self.stream_seconds:.1f}s",
        ]

    def figures(self) -> dict[str, Any]:
        """Return every figure as plain data (for ``--json``), seconds to a tenth."""
        found: dict[str, Any] = {"ok": self.ok}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float):
                value = round(value, 1)
            elif isinstance(value, dict):  # counters, and counters by channel
                value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
            found[item.name] = value
        return found


def run_worker_chaos(
    *,
    workers: int = 3,
    kills: int = 50,
    seed: int = 0,
    order_rate: float = 2.0,
    every: tuple[float, float] = (0.4, 1.4),
    items: int = 8,
    quantity: int = 10,
    concurrency: int = 4,
    database_url: str | None = None,
    store_url: str | None = None,
    directory: Path | None = None,
    converge_timeout: float = 180.0,
    log_level: str = "warning",
    host: PluginHost | None = None,
    max_held: int | None = None,
    keep_schema: bool = False,
    events: bool = True,
) -> WorkerChaosResult:
    """Work the served fakes with ``workers`` workers, SIGKILL one ``kills`` times, then check.

    ``every`` bounds the seeded random wait between two kills, in seconds; the worker
    killed is drawn at random too, and a replacement started at once. ``order_rate`` is
    buyers' orders per second across the marketplaces. The run makes a schema of its
    own on the PostgreSQL server of ``database_url`` (default: the environment's
    ``CHANNELSYNC_TEST_DATABASE_URL``, else the local test server) and drops it at the
    end unless ``keep_schema``; or it works in the empty schema of ``store_url``, which
    the caller made and drops (a test's ``postgres_url``). Each worker slot's log is
    ``worker-N.log`` in ``directory`` (a new temporary one by default). ``max_held`` and
    ``events`` are as in :func:`~channelsync.testing.chaos.run_chaos`.
    """
    require_procrastinate()
    started = time.monotonic()
    result = WorkerChaosResult(suite="worker chaos", seed=seed, process="worker", workers=workers)
    host = host or build_plugin_manager()
    clock = _WorkersClock()
    shops = _shops(host, seed=seed, fault_rate=0.0, fault_kinds=None, clock=clock)
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-worker-chaos-"))
    base = database_url or os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    servers: list[Any] = []
    with _schema(base, keep=keep_schema, given=store_url) as (schema, url):
        result.database = schema
        try:
            for shop in shops:
                server = shop.fake.serve()
                servers.append(server)
                shop.url = server.url
                if events:
                    servers += _serve_events(shop)
            csv_text, initial = _catalogue(items, quantity, _RACE_SKU)
            _extend_fakes(shops, items)
            config_path = where / "channelsync.toml"
            toml = _config_toml(shops, 2 * len(shops), store_url=url)
            toml += "\n[workers]\n" + "".join(f"{k} = {v}\n" for k, v in WORKERS.items())
            config_path.write_text(toml, encoding="utf-8")
            config = load_config(config_path)
            _migrate(config_path, where / "migrate.log", result)
            _install_job_log(conninfo(url))
            with open_state(config) as store:
                import_catalogue(store, parse_catalogue(csv_text, "csv"), now=datetime.now(UTC))
                engine = build_engine(config, store, host=host, credentials=_memory(shops))
                run = _Run(store, engine, shops, initial, {}, result)
                chaos = _WorkerChaos(
                    run,
                    result,
                    seed=seed,
                    order_rate=order_rate,
                    directory=where,
                    info=conninfo(url),
                )
                chaos.argv = [
                    "--config", str(config_path),
                    "--concurrency", str(concurrency),
                    "--log-level", log_level,
                ]  # fmt: skip
                chaos.play_workers(
                    workers=workers, kills=kills, every=every, timeout=converge_timeout
                )
                result.shipments_requested = len(run.shipped)
                _job_figures(conninfo(url), result)
                _stalled_figures(where, result)
                # As in the daemon run: an engine in the harness takes over as a next
                # start would, on the fakes' clock, so what the stop left queued is sent
                # and the guard's holds are seen released without waiting minutes.
                run.engine = _in_process_engine(
                    store, shops, clock, config=engine.context.config, host=host
                )
                _pace_with_the_workers(run.engine, store, clock)
                _as_the_daemon_saw_it(run.engine, shops)
                _take_over(run, clock, max_held=len(shops) if max_held is None else max_held)
                _check_end(run)
                _check_plan(run)
                result.rate_limit_problems = _check_throttles(result)
        finally:
            for server in servers:
                server.stop()
    result.elapsed_seconds = time.monotonic() - started
    if directory is None:
        _tidy(where, result)
    return result


class _WorkersClock(_MovableClock):
    """The harness's clock, which moves the workers' shared rate schedule on with it.

    The fakes count their rate limits on this clock; the schedule the workers shared,
    which the harness's engine reserves in after them (:func:`_pace_with_the_workers`),
    counts on the database server's. Once ``schedule`` is set, moving this clock on
    ``seconds`` moves every slot of the schedule as many seconds back: the marketplaces
    allow what that much time allows, and the engine does not wait for it in real time
    (Amazon's orders search, one call in three minutes after its burst, held the
    harness's first cycle back for up to 150 s).
    """

    def __init__(self) -> None:
        super().__init__()
        self.schedule: SqlStore | None = None

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        if self.schedule is not None:
            slots = rate_slots.c
            with self.schedule.engine.begin() as connection:
                connection.execute(update(rate_slots).values(tat=slots.tat - seconds))


def _pace_with_the_workers(engine: SyncEngine, store: Store, clock: _WorkersClock) -> None:
    """Pace the harness's engine by the schedule the workers shared, as a next worker is.

    It starts as a worker started after the run would: its first calls (the answers to
    events the stopped workers left) go to marketplaces whose limits the workers may
    have just spent. With buckets of its own, full at the start, it would draw the
    marketplace's throttle where a worker, reserving in the shared schedule, waits.
    From now on ``clock`` moves the schedule on with it.
    """
    from channelsync.workers.pacing import install_shared_pacing  # noqa: PLC0415

    if not isinstance(store, SqlStore):  # pragma: no cover - workers need PostgreSQL
        raise TypeError(f"the workers' store is a SQL store, not {type(store).__name__}")
    install_shared_pacing(engine.channels.values(), store)
    clock.schedule = store


# -- the workers -----------------------------------------------------------------------


class _WorkerChaos(_Chaos):
    """The moves of the run across workers: buyers, races, shipments, worker kills."""

    def __init__(
        self,
        run: _Run,
        result: WorkerChaosResult,
        *,
        seed: int,
        order_rate: float,
        directory: Path,
        info: str,
    ) -> None:
        super().__init__(run, seed=seed, order_rate=order_rate, log=directory / "worker-1.log")
        self.directory = directory
        self.result = result
        self.info = info
        """The libpq connection string of the run's schema (for the job log)."""
        self.exited: set[int] = set()
        """Workers found exited by themselves (each reported once)."""

    def start_worker(self, slot: int, spawner: _Spawner | None) -> _Daemon:
        """Start a worker in ``slot`` (its log is ``worker-<slot+1>.log``)."""
        self.result.starts += 1
        log = self.directory / f"worker-{slot + 1}.log"
        return _Daemon(self.argv, log, self.env, spawner, command="worker")

    def play_workers(
        self, *, workers: int, kills: int, every: tuple[float, float], timeout: float
    ) -> None:
        """Start the workers, kill one at random ``kills`` times, converge, stop them."""
        result = self.result
        beginning = time.monotonic()
        slots = [self.start_worker(slot, None) for slot in range(workers)]
        # Started beside the first workers: its one import overlaps theirs.
        spawner = _Spawner(self.env, module="channelsync.testing.chaos_workers")
        try:
            deadline = time.monotonic() + 90
            while not _first_sync_done(self.run.store, self.run.shops):
                if time.monotonic() > deadline or self._exited(slots):
                    break
                time.sleep(0.5)
            result.first_sync_seconds = time.monotonic() - beginning
            streaming = time.monotonic()
            self.watch.race(self.rng, _RACE_SKU)
            for _ in range(kills):
                end = time.monotonic() + self.rng.uniform(*every)
                while time.monotonic() < end:
                    self.tick(0.1)
                    time.sleep(0.1)
                slot = self.rng.randrange(workers)
                slots[slot].signal(signal.SIGKILL)
                code = slots[slot].wait(10)
                if code not in (None, 0, -signal.SIGKILL):
                    result.problems.append(f"a worker in slot {slot + 1} exited with {code}")
                result.kills += 1
                slots[slot] = self.start_worker(slot, spawner)
                result.restarts += 1
            result.stream_seconds = time.monotonic() - streaming
            self.settle(slots, timeout)
            self.stop(slots)
        finally:
            for worker in slots:  # after a failure of the harness: leave no worker behind
                if worker.wait(0) is None:
                    worker.signal(signal.SIGKILL)
                    worker.wait(10)
            spawner.close()

    def settle(self, slots: Sequence[_Daemon], timeout: float) -> None:
        """Stop the buyers; leave the workers running until the end state holds a while.

        Quiet must outlast a clock tick, a pull and a reconcile interval: work that a
        reconcile starts after a first quiet look would otherwise be cut off by the stop.
        """
        converging = time.monotonic()
        settle = max(_DAEMON["pull_interval"], _DAEMON["reconcile_interval"]) + 2.0
        quiet_since: float | None = None
        stuck: str | None = f"{timeout:.0f}s after the last kill"
        while time.monotonic() < converging + timeout:
            self.tick(0.5, orders=False)
            if not _converged(self.run.store, self.run.shops, self.run.shipped, holds_allowed=True):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                stuck = None
                break
            if self._exited(slots):
                stuck = None  # a problem of its own
                break
            silent = _since_last_tick(self.info)
            if silent is not None and silent > _FROZEN:
                # Past the sweep's patience: the workers will not get there by themselves.
                stuck = f"when no clock tick had run for {silent:.0f}s"
                break
            time.sleep(0.5)
        if stuck is not None:
            left = _unsettled(self.run.store, self.run.shops, self.run.shipped)
            self.liveness(
                f"the workers had not converged {stuck}: "
                + ("; ".join(left[:6]) or "settled, but never for long enough")
                + (f" and {len(left) - 6} more" if len(left) > 6 else "")
            )
        self.result.converge_seconds = time.monotonic() - converging

    def stop(self, slots: Sequence[_Daemon]) -> None:
        """SIGTERM every worker; each must exit 0 within 30 s."""
        for worker in slots:
            worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for slot, worker in enumerate(slots):
            code = worker.wait(max(0.0, deadline - time.monotonic()))
            if code is None:
                worker.signal(signal.SIGKILL)
                worker.wait(10)
                self.liveness(f"the worker in slot {slot + 1} did not stop within 30s of SIGTERM")
            elif code != 0:
                self.result.problems.append(
                    f"the worker in slot {slot + 1} exited with {code} after SIGTERM "
                    f"(see {self.directory / f'worker-{slot + 1}.log'})"
                )

    def liveness(self, problem: str) -> None:
        """Record a problem of the workers getting there by themselves, or stopping."""
        self.result.problems.append(problem)
        self.result.liveness_problems.append(problem)

    def _exited(self, slots: Sequence[_Daemon]) -> bool:
        """Whether a worker exited by itself (a problem, reported once: nothing stopped it)."""
        dead = False
        for slot, worker in enumerate(slots):
            code = worker.wait(0)
            if code is None:
                continue
            dead = True
            if worker.pid not in self.exited:
                self.exited.add(worker.pid)
                self.result.problems.append(
                    f"the worker in slot {slot + 1} exited by itself with {code} "
                    f"(see {self.directory / f'worker-{slot + 1}.log'})"
                )
        return dead


# -- the spawner process ---------------------------------------------------------------


def _spawner(stdin: IO[str], stdout: IO[str]) -> None:  # pragma: no cover - a child
    """Serve the chaos spawner with the workers' modules (and procrastinate) imported first."""
    import channelsync.workers.app  # noqa: PLC0415 - import once, before forking
    import channelsync.workers.running  # noqa: F401, PLC0415

    _spawner_main(stdin, stdout)


def _main(argv: Sequence[str]) -> int:  # pragma: no cover - a child process
    if list(argv) == ["spawner"]:
        _spawner(sys.stdin, sys.stdout)
        return 0
    print("usage: python -m channelsync.testing.chaos_workers spawner", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":  # pragma: no cover - the spawner process
    sys.exit(_main(sys.argv[1:]))
