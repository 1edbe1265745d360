"""The workers' events listeners: each listening channel heard by one worker of the cluster.

A channel whose plugin can listen and whose configuration turns ``events`` on (see
:func:`~channelsync.daemon.listening.listens`) is listened to by exactly one worker at
a time: the one holding the channel's *listening lock*, a PostgreSQL session advisory
lock. Each worker process keeps one connection for all the locks it holds; a worker
killed outright loses that connection, PostgreSQL releases its locks with it, and
another worker takes them at its next look (every ``heartbeat_every`` seconds). A
worker whose connection drops stops its listeners at once, before another worker can
start them, and looks again.

The listener is the daemon's pump (:class:`~channelsync.daemon.listening.EventPump`):
each event is written to the inbox, then acknowledged; the units an order event says
its order takes are held from every channel at once (the plan's transaction defers
the flushes, see :mod:`~channelsync.workers.on_commit`). The read that answers an
event is a job, ``answer_events``, that any worker runs beside the channel's pulls:
the listener queues it (once while one waits) for each new event.

How soon a channel's orders are seen is part of what the planner holds back for the
last units, so every worker must plan with the same answer: the listener records in
the store (a cursor, ``events_listening``) until when its channel is heard, renewed at
each look while it is connected, and every worker's step reads it first.

Two listeners of one channel would do no harm beyond double work (the inbox knows each
message id), so the lock is about cost, not correctness; what matters is that a
channel is never left without one while a worker that could listen is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from channelsync.channels import ListenerState
from channelsync.daemon.listening import LISTENING_CURSOR, EventPump, listens
from channelsync.daemon.metrics import DaemonMetrics
from channelsync.daemon.status import ChannelStatus
from channelsync.store import InboxEvent, SqlStore
from channelsync.workers.deferring import ANSWER_EVENTS, Deferrer, workspace_key
from channelsync.workers.runtime import WorkerRuntime

__all__ = ["LOCK_SPACE", "ClusterListeners", "Listened", "listened_channels", "lock_key"]

logger = logging.getLogger(__name__)

#: The first half of every listening lock's key: channelsync's locks among the database's.
LOCK_SPACE = "channelsync:listen"
# Looks a listener's report of being connected holds for: a missed look or two is no gap.
_HEARD_FOR = 3


@dataclass(frozen=True, slots=True)
class Listened:
    """One channel a worker may listen to, with what its listener works with."""

    runtime: WorkerRuntime
    deferrer: Deferrer
    channel: str
    key: str
    """What the channel's listening lock is keyed on: the store, the workspace, the name."""

    @property
    def label(self) -> str:
        """The channel as the queue's keys name it (``acme/tmall`` in workspace ``acme``)."""
        return workspace_key(self.channel, self.runtime.workspace)


def listened_channels(served: Sequence[tuple[WorkerRuntime, Deferrer]]) -> list[Listened]:
    """Return the channels of the served workspaces that listen to their marketplace.

    ``served`` pairs each workspace's runtime with its deferrer.
    """
    found = []
    for runtime, deferrer in served:
        store = runtime.engine.store
        if not isinstance(store, SqlStore):
            continue
        for name, channel in runtime.channels.items():
            if listens(channel):
                found.append(Listened(runtime, deferrer, name, lock_key(store, name)))
    return found


def lock_key(store: SqlStore, channel: str) -> str:
    """Return what ``channel``'s listening lock is keyed on in ``store``'s database.

    The URL (password hidden, schema options kept) and the workspace tell two stores
    of one database apart.
    """
    return f"{store.engine.url}|{store.workspace}|{channel}"


def _say_heard(listened: Listened, heard: bool, look_every: float, worker: str) -> None:
    """Record (or clear) until when ``listened``'s channel is heard, and by which worker."""
    engine = listened.runtime.engine
    with engine.store.transaction() as session:
        if heard:
            until = engine.context.clock.now() + timedelta(seconds=_HEARD_FOR * look_every)
            session.set_cursor(listened.channel, LISTENING_CURSOR, until, worker)
        else:
            session.delete_cursor(listened.channel, LISTENING_CURSOR)


class ClusterListeners:
    """Hold the listening locks this worker can get, and run a listener for each."""

    def __init__(
        self,
        conninfo: str,
        channels: Sequence[Listened],
        *,
        look_every: float,
        stopping: asyncio.Event,
        worker: str = "",
    ) -> None:
        self.conninfo = conninfo
        self.worker = worker
        """This worker's name, as ``channelsync status`` shows the listener of a channel."""
        self.channels = list(channels)
        self.look_every = look_every
        self.stopping = stopping
        self.metrics = DaemonMetrics()
        #: The listeners running here, by channel (``acme/tmall``).
        self.running: dict[str, asyncio.Task[None]] = {}
        self.status = {listened.label: ChannelStatus(listened.label) for listened in channels}

    async def run(self) -> None:
        """Listen where this worker holds the lock, until ``stopping``; reconnect when cut."""
        while not self.stopping.is_set() and self.channels:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as connection:
                    await self._hold(connection)
            except psycopg.OperationalError as error:
                # Its locks went with the connection: another worker may listen now.
                logger.warning(
                    "the listening locks' connection failed (%s); listeners stopped",
                    type(error).__name__,
                )
            finally:
                await self._stop_all()
            await self._wait(self.look_every)

    async def _hold(self, connection: psycopg.AsyncConnection[Any]) -> None:
        held: set[str] = set()
        while not self.stopping.is_set():
            for listened in self.channels:
                label = listened.label
                if label not in held:
                    if not await self._try_lock(connection, listened.key):
                        continue
                    held.add(label)
                    logger.info("listening to %s's events on this worker", label)
                task = self.running.get(label)
                if task is None or task.done():
                    self.running[label] = asyncio.create_task(
                        self._listen(listened), name=f"listen:{label}"
                    )
            # A connection that died takes the locks with it: stop at once, not later.
            await connection.execute("SELECT 1")
            await asyncio.to_thread(self._report)
            await self._wait(self.look_every)

    def _report(self) -> None:
        """Write until when each channel listened to here is heard, for every worker.

        Every worker plans with a channel's events delay only while this says it is
        heard (:meth:`~channelsync.workers.runtime.WorkerRuntime.run`): a listener
        killed outright stops being believed :data:`_HEARD_FOR` looks later.
        """
        for listened in self.channels:
            task = self.running.get(listened.label)
            if task is None:
                continue
            heard = not task.done() and (
                self.status[listened.label].events == ListenerState.CONNECTED.value
            )
            try:
                _say_heard(listened, heard, self.look_every, self.worker)
            except Exception:  # noqa: BLE001 - the next look writes it again
                logger.warning("could not record whether %s is heard", listened.label)

    @staticmethod
    async def _try_lock(connection: psycopg.AsyncConnection[Any], key: str) -> bool:
        cursor = await connection.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", (LOCK_SPACE, key)
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _listen(self, listened: Listened) -> None:
        """Run the channel's pump once; a failure is logged, the next look starts it again."""
        runtime, label = listened.runtime, listened.label

        async def answer(event: InboxEvent) -> None:
            del event  # the job answers every event waiting for the channel
            await listened.deferrer.defer(ANSWER_EVENTS, listened.channel)

        try:
            await runtime.open_channel(listened.channel)
            pump = EventPump(
                runtime.engine,
                listened.channel,
                status=self.status[label],
                metrics=self.metrics,
                # The plan's own transaction queues the flushes (the on-commit hook).
                wake_all=lambda: None,
                stopping=self.stopping,
                answer=answer,
            )
            await pump.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a listener must never stop the worker
            logger.warning(
                "the events listener of %s stopped (%s): %s; polling covers it",
                label,
                type(error).__name__,
                error,
            )
        finally:
            runtime.engine.context.visibility.set_events(listened.channel, False)
            with contextlib.suppress(Exception):
                _say_heard(listened, False, self.look_every, self.worker)

    async def _stop_all(self) -> None:
        for task in self.running.values():
            task.cancel()
        for task in self.running.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.running.clear()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
