"""Workers at scale: many workspaces' channels on the plugin fakes, orders streaming in.

:func:`run_scale` serves ``channels`` plugin fakes (one shop each, one loopback server
each, in this process) for every one of ``workspaces`` workspaces, made in a PostgreSQL
schema of the run's own with the catalogue imported, and starts K ``channelsync worker``
processes, each serving every workspace (one ``--config`` per workspace). Once every
channel is bound and no stock entry is pending (the warm-up), buyers order on random
shops at a steady rate for ``duration`` seconds; then the run waits for the orders to
be imported and their stock sent, stops the workers with SIGTERM and reads the figures
from the database:

* **jobs/s**: jobs that succeeded during the stream, from the status log the chaos
  harness installs on the queue's table (procrastinate deletes a job that succeeded);
* **latency**: per order first imported during the stream, from ``orders.imported_at``
  (the pull's import, whose transaction reserves the units and queues the stock entry
  of every listing whose quantity changes) to the last of those entries for the order's
  SKUs being settled ``sent`` at that version or a later one. Triggers on each
  workspace's ``orders`` and ``outbox`` tables log every insert and change of state
  or version with its transaction id and statement time: the outbox keeps only an
  entry's latest version, the triggers keep each;
* **connections**: the peak of the workers' connections in ``pg_stat_activity``,
  sampled every half second (each worker's ``application_name`` is set through
  ``PGAPPNAME``).

Every schema the run makes (its base, ``cs_scale_<id>``, and the workspaces'
``cs_s<id>_<n>``) is dropped at the end unless kept.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from channelsync.config import StoreConfig
from channelsync.credentials import env_var_name
from channelsync.demo.files import toml_value
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store
from channelsync.testing.chaos import _config_toml, _Daemon
from channelsync.testing.chaos_queue import _install_job_log, _migrate, run_schema
from channelsync.testing.chaos_workers import DEFAULT_DATABASE_URL
from channelsync.testing.chaos_world import ChaosResult, _backdate, _catalogue, _Shop, _shops
from channelsync.testing.scale_probes import (
    DEFINITIONS,
    Sampler,
    cpu_now,
    cpu_share,
    first_sync,
    install_logs,
    job_figures,
    jobs_so_far,
    order_latencies,
    percentile,
    unfinished,
)
from channelsync.workers.extra import conninfo, require_procrastinate

__all__ = ["ScaleResult", "run_scale"]

# The workers' own text of a refused connection, counted in their logs.
_REFUSED = re.compile(r"too many clients|remaining connection slots")


@dataclass
class ScaleResult:
    """The figures of one scale run (``None`` where nothing could be measured)."""

    workspaces: int
    workers: int
    channels: int
    """Channels per workspace (one shop on its own fake each)."""
    concurrency: int
    rate: float
    """Orders per second asked of the buyers, across every shop."""
    pull_interval: float
    flush_interval: float
    duration_s: float = 0.0
    """The order stream's measured length (the window of jobs/s)."""
    orders_placed: int = 0
    orders_imported: int = 0
    orders_measured: int = 0
    orders_unsettled: int = 0
    orders_unchanged: int = 0
    jobs: int = 0
    jobs_per_s: float = 0.0
    jobs_by_task: dict[str, int] = field(default_factory=dict)
    job_wait_s: dict[str, float] = field(default_factory=dict)
    """Mean seconds from queued to started, by task (the queue's delay)."""
    job_run_s: dict[str, float] = field(default_factory=dict)
    """Mean seconds from started to done, by task."""
    jobs_failed: int = 0
    jobs_retried: int = 0
    backlog_peak: int = 0
    p50_s: float | None = None
    p90_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    connections: int = 0
    connections_per_worker: list[int] = field(default_factory=list)
    connections_benchmark: int = 0
    connections_database: int = 0
    max_connections: int = 0
    refused_connections: int = 0
    throttles: int = 0
    throttles_by_operation: dict[str, int] = field(default_factory=dict)
    """Throttling answers by plugin and limit key (``"amazon patchListingsItem"``)."""
    unsent_listings: int = 0
    """Listings bound but never sent when the first sync was taken as done."""
    cpu: dict[str, float] = field(default_factory=dict)
    setup_s: float = 0.0
    warmup_s: float = 0.0
    drain_s: float = 0.0
    wall_s: float = 0.0
    schema: str = ""
    directory: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run measured what it set out to (no problem found)."""
        return not self.problems

    def figures(self) -> dict[str, Any]:
        """Return every figure as plain data, with what each measured (for ``--json``)."""
        found = asdict(self)
        for name, value in found.items():
            if isinstance(value, float):
                found[name] = round(value, 3)
        for name in ("cpu", "job_wait_s", "job_run_s"):
            found[name] = {k: round(v, 3) for k, v in found[name].items()}
        return {"ok": self.ok, **found, "definitions": DEFINITIONS}


@dataclass(frozen=True)
class _Plan:
    """How long each phase of a run may last, and its stream's seed."""

    duration: float
    warmup_timeout: float
    drain_timeout: float
    seed: int


def run_scale(
    *,
    workspaces: int,
    workers: int,
    channels: int = 4,
    rate: float = 10.0,
    duration: float = 60.0,
    pull_interval: float = 15.0,
    flush_interval: float = 5.0,
    concurrency: int = 8,
    items: int = 8,
    quantity: int = 1000,
    seed: int = 0,
    database_url: str | None = None,
    directory: Path | None = None,
    keep: bool = False,
    warmup_timeout: float = 300.0,
    drain_timeout: float | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> ScaleResult:
    """Run the workers over ``workspaces`` x ``channels`` shops for ``duration`` seconds.

    ``rate`` is buyers' orders per second across every shop; the pull and flush
    intervals are the workspaces' ``[daemon]`` ones (reconcile: hourly, the default).
    Each worker's log is ``worker-N.log`` in ``directory`` (by default a new temporary
    one, removed after a run without problems); ``keep`` leaves the schemas in place.
    After the stream the run waits at most ``drain_timeout`` (default: two pull
    intervals and 30 s) for the orders to be imported and sent. ``say`` receives a line
    of progress now and then.
    """
    require_procrastinate()
    if not 1 <= channels <= 4:
        raise ValueError("channels per workspace: 1 to 4 (one per plugin fake)")
    started = time.monotonic()
    result = ScaleResult(
        workspaces, workers, channels, concurrency, rate, pull_interval, flush_interval
    )
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-scale-"))
    result.directory = str(where)
    base = database_url or os.environ.get("CHANNELSYNC_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    run = uuid.uuid4().hex[:8]
    host = build_plugin_manager()
    daemon = {
        "pull_interval": pull_interval,
        "flush_interval": flush_interval,
        "reconcile_interval": 3600.0,
        "stale_after": max(900.0, 2 * pull_interval),
        "shutdown_grace": 3.0,
    }
    shops = [
        _shops(host, seed=seed * 1000 + n, fault_rate=0.0, fault_kinds=None)[:channels]
        for n in range(workspaces)
    ]
    drain = drain_timeout if drain_timeout is not None else 2 * pull_interval + 30
    plan = _Plan(duration, warmup_timeout, drain, seed)
    servers: list[Any] = []
    with _database(base, run, keep=keep) as (schema, url):
        result.schema = schema
        names = [f"s{run}_{n:03d}" for n in range(workspaces)]
        try:
            servers = _serve([shop for own in shops for shop in own])
            paths = []
            for name, own in zip(names, shops, strict=True):
                path = where / f"{name}.toml"
                path.write_text(_workspace_toml(own, url, name, daemon), encoding="utf-8")
                paths.append(path)
            say(f"setup: {workspaces} workspaces x {channels} channels in schema {schema}")
            _setup(url, names, paths, (items, quantity), result)
            say(f"setup took {result.setup_s:.1f}s")
            _Scale(conninfo(url), run, names, shops, result, plan, say).work(paths)
        finally:
            with ThreadPoolExecutor(64) as pool:  # each stop waits up to half a second
                list(pool.map(lambda server: server.stop(), servers))
    result.throttles = sum(shop.throttles.total() for own in shops for shop in own)
    result.throttles_by_operation = _throttles_by_operation(shops)
    if directory is None and result.ok:
        # The configurations and the workers' logs are kept only when something went wrong.
        shutil.rmtree(where, ignore_errors=True)
        result.directory = ""
    result.wall_s = time.monotonic() - started
    return result


def _throttles_by_operation(shops: Sequence[Sequence[_Shop]]) -> dict[str, int]:
    """Sum the fakes' throttling answers by plugin and limit key, across workspaces."""
    found: Counter[str] = Counter()
    for own in shops:
        for shop in own:
            for key, count in shop.throttles.items():
                found[f"{shop.type_name} {key}"] += count
    return dict(sorted(found.items()))


# -- the database ---------------------------------------------------------------------


@contextlib.contextmanager
def _database(base: str, run: str, *, keep: bool) -> Iterator[tuple[str, str]]:
    """Make the run's base schema; yield it and its store URL; drop every schema of the run."""
    schema = f"cs_scale_{run}"
    # The workspaces' schemas are beside the base, named after the run.
    with run_schema(base, schema, keep=keep, also_like=f"cs\\_s{run}\\_%") as url:
        yield schema, url


def _workspace_toml(shops: Sequence[_Shop], url: str, name: str, daemon: dict[str, float]) -> str:
    """Return the chaos run's configuration of ``shops`` in workspace ``name``, at a pace."""
    text = _config_toml(shops, 2 * len(shops), store_url=url)
    head, _, rest = text.partition("[daemon]\n")
    _, _, entries = rest.partition("\n\n")  # the [daemon] lines end at the first blank line
    line = f"url = {toml_value(url)}\n"
    head = head.replace(line, f"{line}workspace = {toml_value(name)}\n", 1)
    pace = "\n".join(f"{key} = {toml_value(value)}" for key, value in daemon.items())
    return f"{head}[daemon]\n{pace}\n\n{entries}"


def _setup(
    url: str,
    names: Sequence[str],
    paths: Sequence[Path],
    stock: tuple[int, int],
    result: ScaleResult,
) -> None:
    """Create and migrate every workspace, import its catalogue (``stock``: items, units each)."""
    began = time.monotonic()
    # The first through the real command: it installs the queue's tables too.
    log = paths[0].parent / "migrate.log"
    _migrate(paths[0], log, ChaosResult(suite="scale", seed=0))
    csv_text, _ = _catalogue(*stock, None)
    rows = parse_catalogue(csv_text, "csv")
    for name in names:
        # What `channelsync store migrate` does for each further workspace, in-process.
        with open_store(StoreConfig(url, workspace=name), create=True) as store:
            import_catalogue(store, rows, now=datetime.now(UTC))
    info = conninfo(url)
    _install_job_log(info)
    install_logs(info, names)
    result.setup_s = time.monotonic() - began


def _serve(shops: Sequence[_Shop]) -> list[Any]:
    """Serve every shop's fake on a loopback port of its own."""
    servers = []
    for shop in shops:
        server = shop.fake.serve()
        servers.append(server)
        shop.url = server.url
    return servers


# -- the workers, the stream, the figures ---------------------------------------------


@dataclass
class _Scale:
    """One run's workers, buyers and figures, once the workspaces are set up."""

    info: str
    run: str
    names: Sequence[str]
    shops: Sequence[Sequence[_Shop]]
    result: ScaleResult
    plan: _Plan
    say: Callable[[str], None]
    slots: list[_Daemon] = field(default_factory=list)
    _quiet: bool = False

    def work(self, paths: Sequence[Path]) -> None:
        """Start the workers, warm up, stream orders, drain, stop them; read the figures."""
        import psycopg  # noqa: PLC0415

        result, where = self.result, Path(self.result.directory)
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        for shop in self.shops[0]:  # every workspace names its channels alike, one secret each
            for key, secret in shop.credentials.items():
                env[env_var_name(shop.channel, key)] = secret
        argv = [arg for path in paths for arg in ("--config", str(path))]
        argv += ["--concurrency", str(result.concurrency), "--log-level", "warning"]
        sampler = Sampler(self.info, f"csscale-{self.run}-")
        sampler.start()
        try:
            for slot in range(result.workers):
                # The worker's connections carry its name in pg_stat_activity.
                own = {**env, "PGAPPNAME": f"csscale-{self.run}-w{slot + 1}"}
                log = where / f"worker-{slot + 1}.log"
                self.slots.append(_Daemon(argv, log, own, None, command="worker"))
            bench = f"csscale-{self.run}-bench"
            with psycopg.connect(self.info, autocommit=True, application_name=bench) as db:
                began = time.monotonic()
                self.say(f"warm-up: {result.workers} worker(s) bind and send every listing")
                warm = self._wait(lambda: self._warm(db), self.plan.warmup_timeout)
                result.warmup_s = time.monotonic() - began
                if warm:
                    self.say(f"warm-up took {result.warmup_s:.1f}s; streaming orders")
                    self._stream(db, sampler)
                else:
                    result.problems.append(
                        f"the first sync was not done {result.warmup_s:.0f}s after the "
                        f"workers started; jobs: {jobs_so_far(db)}"
                    )
            self._stop(where)
        finally:
            for worker in self.slots:  # after a failure of the harness: leave none behind
                if worker.wait(0) is None:
                    worker.signal(signal.SIGKILL)
                    worker.wait(10)
            sampler.close()
        peaks = sampler.peaks
        result.connections = sampler.workers_peak
        result.connections_per_worker = [
            peaks.get(f"csscale-{self.run}-w{slot + 1}", 0) for slot in range(result.workers)
        ]
        result.connections_benchmark = peaks.get(f"csscale-{self.run}-bench", 0)
        result.connections_database = sampler.database_peak
        result.max_connections = sampler.max_connections
        result.backlog_peak = sampler.backlog_peak
        if sampler.error is not None:
            result.problems.append(f"the connection sampler failed: {sampler.error}")
        result.refused_connections = sum(
            len(_REFUSED.findall(log.read_text(encoding="utf-8", errors="replace")))
            for log in where.glob("worker-*.log")
        )
        if result.refused_connections:
            result.problems.append(
                f"PostgreSQL refused connections {result.refused_connections} time(s) "
                f"(max_connections {result.max_connections}; see the workers' logs)"
            )

    def _stream(self, db: Any, sampler: Sampler) -> None:
        """Buyers order at the rate for the duration; drain; read the figures of the window."""
        result, plan = self.result, self.plan
        rng = random.Random(plan.seed)  # noqa: S311 - a repeatable stream, not security
        every = [shop for own in self.shops for shop in own]
        start, cpu = datetime.now(UTC), cpu_now(worker.pid for worker in self.slots)
        began = time.monotonic()
        sampler.measuring = True
        owed, last = 0.0, began
        while (now := time.monotonic()) < began + plan.duration:
            owed += (now - last) * result.rate
            last = now
            while owed >= 1:
                owed -= 1
                shop = rng.choice(every)
                orders = shop.place(1)  # none when the fake shows nothing left to buy
                _backdate(shop, orders)
                result.orders_placed += len(orders)
            if self._exited():
                break
            time.sleep(0.05)
        result.duration_s = time.monotonic() - began
        end = datetime.now(UTC)
        sampler.measuring = False
        result.cpu = cpu_share(cpu, cpu_now(worker.pid for worker in self.slots), result.duration_s)
        self.say(f"{result.orders_placed} orders placed in {result.duration_s:.1f}s; draining")
        draining = time.monotonic()
        placed = result.orders_placed
        if not self._wait(
            lambda: unfinished(db, self.names, start, placed) == 0, plan.drain_timeout
        ):
            result.problems.append(
                f"orders or their stock were not all imported and sent {plan.drain_timeout:.0f}s "
                "after the stream"
            )
        result.drain_s = time.monotonic() - draining
        jobs = job_figures(db, start, end)
        result.jobs, result.jobs_failed = jobs.succeeded, jobs.failed
        result.jobs_retried = jobs.retried
        result.jobs_by_task = dict(jobs.by_task.most_common())
        result.job_wait_s, result.job_run_s = jobs.wait_s, jobs.run_s
        result.jobs_per_s = jobs.succeeded / max(result.duration_s, 1e-9)
        found = order_latencies(db, self.names, start)
        result.orders_imported, result.orders_unsettled = found.imported, found.unsettled
        result.orders_unchanged, result.orders_measured = found.unchanged, len(found.seconds)
        if found.seconds:
            result.p50_s = percentile(found.seconds, 50)
            result.p90_s = percentile(found.seconds, 90)
            result.p99_s = percentile(found.seconds, 99)
            result.max_s = max(found.seconds)
        else:
            result.problems.append("no order was imported and sent: no latency to report")

    def _warm(self, db: Any) -> bool:
        """Whether every channel is bound and nothing is pending, at two looks running.

        A listing bound but never planned stays unsent with nothing pending: it is
        counted (:attr:`ScaleResult.unsent_listings`), not waited for.
        """
        unbound, pending, unsent = first_sync(db, self.names, self.result.channels)
        quiet = unbound == 0 and pending == 0
        settled, self._quiet = quiet and self._quiet, quiet
        self.result.unsent_listings = unsent
        return settled

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()``; ``False`` after ``timeout`` or when a worker exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            if self._exited():
                return False
            time.sleep(1.0)
        return done()

    def _exited(self) -> bool:
        """Whether a worker exited by itself (each reported once as a problem)."""
        dead = False
        for slot, worker in enumerate(self.slots):
            code = worker.wait(0)
            if code is None:
                continue
            dead = True
            problem = f"worker {slot + 1} exited by itself with {code} (see worker-{slot + 1}.log)"
            if problem not in self.result.problems:
                self.result.problems.append(problem)
        return dead

    def _stop(self, where: Path) -> None:
        """SIGTERM every worker still running; each must exit 0 within 30 s."""
        running = [(slot, w) for slot, w in enumerate(self.slots) if w.wait(0) is None]
        for _, worker in running:
            worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for slot, worker in running:
            code = worker.wait(max(0.0, deadline - time.monotonic()))
            if code != 0:
                stopped = "did not stop" if code is None else f"exited {code}"
                self.result.problems.append(
                    f"worker {slot + 1} {stopped} after SIGTERM "
                    f"(see {where / f'worker-{slot + 1}.log'})"
                )
