"""The clock: which channel steps fall due on a tick of the periodic clock task.

procrastinate defers the clock task once per tick across the whole cluster (each
tick's job is inserted once, whichever worker's deferrer gets there first). The
clock job defers every step whose interval boundary fell inside the tick that just
ended: a step of interval ``every`` is due on the ticks that cross a multiple of
``every``, shifted by a phase drawn from the channel and step names, so a hundred
channels with one pull interval do not all pull in the same second. Nothing is
remembered between ticks: any worker can run the next one. One tick serves every
workspace of the workers' set (:func:`clock_group`), each at its own intervals.

The intervals are the daemon's (``[daemon]`` ``pull_interval``, ``pull_intervals``,
``flush_interval``, ``reconcile_interval``), measured from one start to the next
rather than from the end of one step to the start of the next. A flush is also
deferred by the work that needs it (:mod:`~channelsync.workers.on_commit`); the
clock's flushes are the daemon's periodic look for entries whose retry time has come.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from channelsync.channels import Channel, ListingsCapability, RefundsCapability
from channelsync.config import DEFAULT_WORKSPACE, DaemonConfig
from channelsync.daemon.listening import listens
from channelsync.workers.deferring import (
    ANSWER_EVENTS,
    FLUSH,
    PULL_ORDERS,
    PULL_REFUNDS,
    RECONCILE,
    workspace_key,
)

__all__ = ["Cadence", "cadences", "clock_group", "cron", "due", "group_tick", "tick_seconds"]

# Ticks that divide a minute evenly, so a seconds-field cron (``*/N``) keeps its period.
_TICKS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often one step of one channel runs."""

    step: str
    channel: str
    every: float
    """Seconds between two starts."""
    workspace: str = DEFAULT_WORKSPACE

    @property
    def phase(self) -> float:
        """Where in its interval this step falls, the same in every process.

        Drawn from the workspace too: a hundred merchants' ``tmall`` channels spread out.
        """
        spread = zlib.crc32(f"{self.step}:{workspace_key(self.channel, self.workspace)}".encode())
        return self.every * (spread % 1000) / 1000


def clock_group(workspaces: Iterable[str]) -> str:
    """Return the key of the clock shared by every worker serving exactly ``workspaces``.

    ``""`` for the ``default`` workspace alone (a store of one merchant, as before).
    One clock ticks the whole set: a tick per workspace would put hundreds of jobs in
    the queue every few seconds at hundreds of merchants, crowding out their steps.
    Workers serving different sets each have their set's clock; a workspace in two sets
    is ticked by both, and its steps are still queued once (queueing locks).
    """
    names = sorted(set(workspaces))
    if names == [DEFAULT_WORKSPACE]:
        return ""
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:12]


def group_tick(settings: Iterable[DaemonConfig]) -> int:
    """Return the period of a clock ticking workspaces of these settings: the shortest."""
    return min(tick_seconds(each) for each in settings)


def tick_seconds(settings: DaemonConfig) -> int:
    """Return the clock's period: the longest that still keeps the shortest interval.

    It divides a minute (a cron period must); intervals shorter than a second are
    kept at one tick.
    """
    shortest = min(
        settings.flush_interval,
        settings.pull_interval,
        *settings.pull_intervals.values(),
        settings.reconcile_interval,
    )
    return max(tick for tick in _TICKS if tick <= max(1.0, shortest))


def cron(tick: int) -> str:
    """Return the cron expression of a tick of ``tick`` seconds (a divisor of a minute).

    procrastinate's crons take the seconds as an optional sixth field, after the
    day of the week.
    """
    return "* * * * *" if tick >= 60 else f"* * * * * */{tick}"


def cadences(
    channels: Mapping[str, Channel[Any]],
    settings: DaemonConfig,
    *,
    reconcile: bool,
    workspace: str = DEFAULT_WORKSPACE,
) -> list[Cadence]:
    """Return every step the clock keeps for ``channels``.

    Every channel is pulled (the pull also binds a new channel's listings and plans
    what changed) and flushed; refunds are pulled where the channel has them; listings
    are reconciled where the channel lists them and the engine can reconcile; events
    left unanswered are looked for at the pull interval where the channel listens.
    """
    found = []
    for name, channel in channels.items():
        pull = settings.pull_interval_of(name)
        found.append(Cadence(PULL_ORDERS, name, pull, workspace))
        if isinstance(channel, RefundsCapability):
            found.append(Cadence(PULL_REFUNDS, name, pull, workspace))
        found.append(Cadence(FLUSH, name, settings.flush_interval, workspace))
        if reconcile and isinstance(channel, ListingsCapability):
            found.append(Cadence(RECONCILE, name, settings.reconcile_interval, workspace))
        if listens(channel):
            found.append(Cadence(ANSWER_EVENTS, name, pull, workspace))
    return found


def due(steps: Iterable[Cadence], at: float, tick: float) -> list[tuple[str, str]]:
    """Return the ``(step, channel)`` whose boundary lies in the tick ``(at - tick, at]``.

    A step whose interval is shorter than the tick is due on every tick.
    """
    found = []
    for cadence in steps:
        end = math.floor((at - cadence.phase) / cadence.every)
        start = math.floor((at - tick - cadence.phase) / cadence.every)
        if end > start:
            found.append((cadence.step, cadence.channel))
    return found
