"""Proof under crashes, faults and load: the daemon and the engine judged by the fakes' records.

Three runs share one set of checks:

* :func:`run_chaos` serves every installed plugin's demo fake on loopback, writes a
  configuration and a catalogue, starts the daemon as a child process and streams
  buyers' orders at it (including races for the last unit of a SKU on every
  channel at once), records shipments through the SDK, kills the daemon with
  SIGKILL at seeded random moments and restarts it, and finally lets it converge
  and stops it with SIGTERM;
* :func:`run_in_process` drives the same fakes in-process on a
  :class:`~channelsync.clock.FakeClock`, cycle by cycle, optionally with faults
  injected on a share of every marketplace call (the faults suite) or with a burst
  of tens of thousands of orders against scarce stock (the load suite).

At the end both check, from the fakes' own records and the store: every order
imported exactly once and its stock effect applied exactly once, every shipment
pushed exactly once, every channel showing exactly what the engine allocates from
the ledger and never more than is available. :class:`ChaosResult` carries the
figures and the problems found; an empty :attr:`ChaosResult.problems` is a pass.

This module ships with channelsync (rather than living in the test tree) so that a
plugin author can run the same proof against their own fake, and so the scripts
under ``benchmarks/`` and the CI suite run one implementation.

Restarting a Python daemon costs seconds of imports on a busy machine; fifty of them
would take minutes. So between the first start and the last one (both the real
``python -m channelsync.daemon`` command), the restarts come from a spawner process
that has imported channelsync once and forks a fresh daemon process for each: still
a separate process running ``channelsync run``, killed by a real SIGKILL. The next
start takes the killed daemon's store lease over by itself (same host, pid gone).

The module is in four parts: this one (the chaos run and its daemon processes),
:mod:`~channelsync.testing.chaos_world` (the fakes, buyers and the result),
:mod:`~channelsync.testing.chaos_checks` (the end-state checks) and
:mod:`~channelsync.testing.chaos_inprocess` (the faults and load runs).
:mod:`~channelsync.testing.chaos_workers` runs the same chaos across ``channelsync
worker`` processes.

"Never shown more than available" is checked strictly where time is controlled:
after every complete in-process cycle and at the end of every run. While the
daemon runs on the wall clock, the fakes are sampled instead: a channel showing
units that another channel already sold is the polling gap's exposure, counted and
reported; the units that gap let buyers take beyond the stock are the oversells.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from channelsync.bootstrap import build_engine, open_state
from channelsync.channels import Capability
from channelsync.config import load_config
from channelsync.credentials import CredentialStore, env_var_name
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.demo.files import toml_value
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import Store
from channelsync.testing.chaos_checks import (
    _check_end,
    _check_plan,
    _converged,
    _in_process_engine,
    _MovableClock,
    _take_over,
)
from channelsync.testing.chaos_inprocess import (
    run_in_process,
)
from channelsync.testing.chaos_world import (
    _DAEMON,
    _RACE_SKU,
    ChaosResult,
    _backdate,
    _catalogue,
    _extend_fakes,
    _Run,
    _ship_some,
    _Shop,
    _shops,
    _tidy,
    _Watch,
)
from channelsync.testing.fakes import Fault

__all__ = ["ChaosResult", "run_chaos", "run_in_process"]


# -- the result ------------------------------------------------------------------------


# -- the marketplaces ------------------------------------------------------------------


# -- what the fakes hold ---------------------------------------------------------------


# -- the end state ---------------------------------------------------------------------


# -- the chaos run: the daemon as a child process ---------------------------------------


def _as_the_daemon_saw_it(engine: SyncEngine, shops: Sequence[_Shop]) -> None:
    """Give the harness's engine the daemon's view of how soon orders are seen.

    The daemon's pull interval, and its listeners connected (they were, at the end):
    the pace-aware protection plans with them, so the engine that takes over must too,
    or it would plan other quantities than the daemon sent for no change of stock.
    """
    for shop in shops:
        engine.context.visibility.set_pull_interval(shop.channel, _DAEMON["pull_interval"])
        if shop.settings.get("events"):
            engine.context.visibility.set_events(shop.channel, True)


def _serve_events(shop: _Shop) -> list[Any]:
    """Serve the shop's push service (if its plugin listens) and turn its events on."""
    serve = getattr(shop.fake, "serve_events", None)
    if serve is None or Capability.EVENTS not in shop.channel_cls.capabilities():
        return []
    server = serve()
    shop.settings = {**shop.settings, "events": True, "events_url": server.url}
    return [server]


def _config_toml(shops: Sequence[_Shop], threshold: int, *, store_url: str | None = None) -> str:
    """Return the run's configuration: the daemon's pace, every shop, and the store.

    Without ``store_url`` the store is the default SQLite file beside the configuration.
    """
    value = toml_value
    if store_url is None:
        store = ["# The store is the default one, beside this file."]
    else:
        store = ["[store]", f"url = {value(store_url)}", ""]
    lines = [
        *store,
        "[engine]",
        f"scarce_threshold = {threshold}",
        "order_lookback_hours = 1",
        "",
        "[daemon]",
        *(f"{key} = {value(item)}" for key, item in _DAEMON.items()),
    ]
    for shop in shops:
        lines += [
            "",
            "[[channels]]",
            f"name = {value(shop.channel)}",
            f"type = {value(shop.type_name)}",
            f"base_url = {value(shop.url)}",
            *(f"{key} = {value(item)}" for key, item in shop.settings.items()),
            *(f"{key} = {value(item)}" for key, item in shop.sync.items()),
        ]
    return "\n".join(lines) + "\n"


class _Spawner:
    """A process that imported channelsync once and forks a fresh daemon per start."""

    def __init__(self, env: dict[str, str], module: str = "channelsync.testing.chaos") -> None:
        # ``module`` runs the spawner: one that imports more first makes each fork cheaper.
        command = [sys.executable, "-m", module, "spawner"]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError("the daemon spawner exited")
        reply: dict[str, Any] = json.loads(answer)
        return reply

    def spawn(self, argv: list[str], log: Path) -> int:
        return int(self._ask({"op": "spawn", "argv": argv, "log": str(log)})["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        status = self._ask({"op": "wait", "pid": pid, "timeout": timeout})["status"]
        return None if status is None else int(status)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


#: ``python -c`` code that runs the ``channelsync`` command line, as its console script does.
_CLI = "from channelsync.cli.main import main; main()"


class _Daemon:
    """One ``channelsync`` process (``run`` by default), started by exec or by the spawner."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str],
        spawner: _Spawner | None,
        *,
        command: str = "run",
    ) -> None:
        self.spawner = spawner
        self.popen: subprocess.Popen[bytes] | None = None
        if spawner is None:
            if command == "run":
                line = [sys.executable, "-m", "channelsync.daemon", *argv]
            else:
                line = [sys.executable, "-c", _CLI, command, *argv]
            with log.open("ab") as out:
                self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    line,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid = self.popen.pid
        else:
            self.pid = spawner.spawn([command, *argv], log)

    def signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int | None:
        if self.popen is not None:
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        assert self.spawner is not None
        return self.spawner.wait(self.pid, timeout)


def run_chaos(
    *,
    kills: int = 50,
    seed: int = 0,
    fault_rate: float = 0.0,
    fault_kinds: Iterable[Fault] | None = None,
    order_rate: float = 2.0,
    life: tuple[float, float] = (0.4, 1.4),
    items: int = 8,
    quantity: int = 10,
    directory: Path | None = None,
    fork: bool = True,
    converge_timeout: float = 120.0,
    log_level: str = "warning",
    host: PluginHost | None = None,
    max_held: int | None = None,
    events: bool = True,
) -> ChaosResult:
    """Run the daemon against the served fakes, SIGKILL it ``kills`` times, then check.

    ``order_rate`` is buyers' orders per second across the marketplaces; each daemon
    lives a seeded random time in ``life`` seconds before it is killed. ``fork`` takes
    the restarts between the first and the last from a spawner process (see the
    module's documentation); the first and last starts are always the real command.
    The daemon's log is ``daemon.log`` in ``directory`` (a new temporary one by default).
    A raise the re-inflation guard holds at the end must be explained by a buyer's
    order placed after the listing's last send (the run dates orders back past the
    lag, so the guard rightly holds such raises until it has passed); at most
    ``max_held`` (default: one per channel) may lack that explanation, and each hold
    must be released once the marketplaces' lag has passed (see :func:`_take_over`).
    With ``events`` every fake that pushes serves its push service and the daemon
    listens to it beside polling, so the kills also land between an event's commit to
    the inbox, its acknowledgement and its read.
    """
    started = time.monotonic()
    result = ChaosResult(suite="chaos", seed=seed)
    host = host or build_plugin_manager()
    clock = _MovableClock()
    shops = _shops(host, seed=seed, fault_rate=fault_rate, fault_kinds=fault_kinds, clock=clock)
    where = directory or Path(tempfile.mkdtemp(prefix="channelsync-chaos-"))
    servers: list[Any] = []
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
        config_path.write_text(_config_toml(shops, 2 * len(shops)), encoding="utf-8")
        config = load_config(config_path)
        with open_state(config) as store:
            import_catalogue(store, parse_catalogue(csv_text, "csv"), now=datetime.now(UTC))
            engine = build_engine(config, store, host=host, credentials=_memory(shops))
            run = _Run(store, engine, shops, initial, {}, result)
            chaos = _Chaos(run, seed=seed, order_rate=order_rate, log=where / "daemon.log")
            chaos.argv = ["--config", str(config_path), "--log-level", log_level]
            chaos.play(kills=kills, life=life, fork=fork, converge_timeout=converge_timeout)
            result.shipments_requested = len(run.shipped)
            # The daemon is gone: an engine in the harness takes over as its next start
            # would, on the fakes' clock, so work the stop left queued is sent and the
            # guard's holds are seen released without waiting minutes.
            run.engine = _in_process_engine(
                store, shops, clock, config=engine.context.config, host=host
            )
            _as_the_daemon_saw_it(run.engine, shops)
            _take_over(run, clock, max_held=len(shops) if max_held is None else max_held)
            _check_end(run)
            _check_plan(run)
    finally:
        for server in servers:
            server.stop()
    result.elapsed_seconds = time.monotonic() - started
    if directory is None:
        _tidy(where, result)
    return result


class _Chaos:
    """The chaos run's moves: buyers, races, shipments, daemon starts and kills."""

    def __init__(self, run: _Run, *, seed: int, order_rate: float, log: Path) -> None:
        self.run = run
        self.rng = random.Random(seed)  # noqa: S311 - repeatable chaos, not security
        self.order_rate = order_rate
        self.log = log
        self.watch = _Watch(run.shops, run.initial, run.result)
        self.argv: list[str] = []
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        for shop in run.shops:
            for name, secret in shop.credentials.items():
                self.env[env_var_name(shop.channel, name)] = secret
        self._owed = 0.0

    def tick(self, seconds: float, *, orders: bool = True) -> None:
        """Let ``seconds`` of buyers happen (or only watch), then sample the fakes."""
        if orders:
            self._owed += seconds * self.order_rate
            while self._owed >= 1:
                self._owed -= 1
                shop = self.rng.choice(self.run.shops)
                _backdate(shop, shop.place(1))
            if self.rng.random() < seconds:
                self.watch.race(self.rng)
            if self.rng.random() < 3 * seconds:
                _ship_some(self.run, self.rng, 2)
        self.watch.sample()

    def start(self, spawner: _Spawner | None) -> _Daemon:
        self.run.result.starts += 1
        return _Daemon(self.argv, self.log, self.env, spawner)

    def play(
        self, *, kills: int, life: tuple[float, float], fork: bool, converge_timeout: float
    ) -> None:
        """Start, race, kill and restart ``kills`` times; then converge and stop cleanly."""
        result = self.run.result
        daemon = self.start(None)
        deadline = time.monotonic() + 90
        while not _first_sync_done(self.run.store, self.run.shops) and time.monotonic() < deadline:
            if daemon.wait(0.5) is not None:
                break
        self.watch.race(self.rng, _RACE_SKU)
        spawner = _Spawner(self.env) if fork and kills > 1 else None
        try:
            for kill in range(kills):
                if kill:
                    daemon = self.start(spawner)
                end = time.monotonic() + self.rng.uniform(*life)
                while time.monotonic() < end:
                    self.tick(0.1)
                    time.sleep(0.1)
                daemon.signal(signal.SIGKILL)
                code = daemon.wait(10)
                if code not in (None, 0, -signal.SIGKILL):
                    result.problems.append(f"daemon start {result.starts} exited with {code}")
                result.kills += 1
                # The next start must take the dead daemon's lease over by itself.
        finally:
            if spawner is not None:
                spawner.close()
        self.converge(converge_timeout)

    def converge(self, timeout: float) -> None:
        """Stop the buyers, start the real command once more, wait for quiet, SIGTERM it."""
        result = self.run.result
        converging = time.monotonic()
        daemon = self.start(None)
        # Quiet must last longer than a pull and a reconcile interval: work that a
        # status change read back or a reconcile starts after a first quiet look
        # would otherwise be cut off by the stop.
        settle = max(_DAEMON["pull_interval"], _DAEMON["reconcile_interval"]) + 1.0
        quiet_since: float | None = None
        while time.monotonic() < converging + timeout:
            self.tick(0.5, orders=False)
            if not _converged(self.run.store, self.run.shops, self.run.shipped, holds_allowed=True):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                break
            if daemon.wait(0.5) is not None:
                break
        result.converge_seconds = time.monotonic() - converging
        daemon.signal(signal.SIGTERM)
        code = daemon.wait(30)
        if code is None:
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            result.problems.append("the daemon did not stop within 30s of SIGTERM")
        elif code != 0:
            result.problems.append(f"the daemon exited with {code} after SIGTERM (see {self.log})")


def _memory(shops: Sequence[_Shop]) -> CredentialStore:
    backend = MemorySecretBackend(
        {(shop.channel, k): v for shop in shops for k, v in shop.credentials.items()}
    )
    return CredentialStore(backend=backend, environ={})


def _first_sync_done(store: Store, shops: Sequence[_Shop]) -> bool:
    with store.transaction() as session:
        for shop in shops:
            bindings = session.bindings(channel=shop.channel)
            if not bindings or any(
                b.sku_id is not None and b.sent_quantity is None for b in bindings
            ):
                return False
    return True


# -- in-process runs: faults and load ----------------------------------------------------


# -- the spawner process ---------------------------------------------------------------


def _spawner_main(stdin: IO[str], stdout: IO[str]) -> None:  # pragma: no cover - a child
    import channelsync.cli.main  # noqa: F401, PLC0415 - import once, before forking

    build_plugin_manager()
    children: set[int] = set()
    for line in stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(request["argv"], request["log"])
            children.add(pid)
            reply: dict[str, Any] = {"pid": pid}
        else:
            reply = {"status": _reap(int(request["pid"]), float(request["timeout"]))}
            if reply["status"] is not None:
                children.discard(int(request["pid"]))
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    for pid in children:  # the harness went away: leave no daemon behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reap(pid: int, timeout: float) -> int | None:  # pragma: no cover - in the spawner
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _child(argv: list[str], log: str) -> None:  # pragma: no cover - in a forked daemon
    code = 1
    try:
        os.setsid()
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        from channelsync.cli.main import cli  # noqa: PLC0415 - already imported

        cli(argv, prog_name="channelsync")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os._exit(code)


def _main(argv: Sequence[str]) -> int:  # pragma: no cover - a child process
    if list(argv) == ["spawner"]:
        _spawner_main(sys.stdin, sys.stdout)
        return 0
    print("usage: python -m channelsync.testing.chaos spawner", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":  # pragma: no cover - the spawner process
    sys.exit(_main(sys.argv[1:]))
