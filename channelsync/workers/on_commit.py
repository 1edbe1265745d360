"""Defer a channel's flush in the very transaction that queued outbox work for it.

The engine writes outbox entries (and queued shipments) inside the transaction of the
change that causes them: an order page reserves stock and queues every channel's new
quantity in one commit. :class:`FlushOnCommit` watches the store's SQLAlchemy engine:
it notes the channel of each outbox or shipment row inserted (enqueues are upserts, so
a coalesced entry counts too), and just before the transaction commits it defers each
noted channel's flush job on the same psycopg connection. The job commits with the
work or not at all: no work is committed without its job, and a rolled-back change
leaves no job behind. procrastinate 3.8 is the first release that defers on the
caller's connection; the store's SQLAlchemy engine runs on psycopg 3, so its
transaction's connection is a ``psycopg.Connection`` that procrastinate can use.

Jobs are deferred in channel name order, so two transactions committing at once wait
on each other's pending job (the queueing lock's unique index) in one order and never
deadlock. A channel whose flush is pending already costs a rolled-back savepoint.

This covers the work the worker processes create. Work written by another process
(``channelsync catalogue import``, ``ship``, the console) has no job until the clock
defers each channel's flush, every ``flush_interval`` seconds, as the daemon looks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

from channelsync.store import schema as t
from channelsync.workers.deferring import FLUSH, Deferrer

__all__ = ["FlushOnCommit"]

logger = logging.getLogger(__name__)

# Where a connection keeps the channels its open transaction queued work for.
_KEY = "channelsync.workers.flush_on_commit"
# The tables whose new rows are work for a channel's flush.
_WORK = (t.outbox, t.shipments)


class FlushOnCommit:
    """Listens on a store's engine and defers flushes inside the committing transaction."""

    def __init__(self, engine: Engine, deferrer: Deferrer, channels: Iterable[str]) -> None:
        self.engine = engine
        self.deferrer = deferrer
        self.channels = frozenset(channels)
        """Only these channels' flushes are deferred (the workers' configured channels)."""
        self.deferred = 0
        """Flush jobs queued so far (pending copies not counted)."""
        self._installed = False

    def install(self) -> None:
        """Start watching the engine's transactions."""
        if self._installed:
            return
        event.listen(self.engine, "after_cursor_execute", self._executed)
        event.listen(self.engine, "commit", self._committing)
        event.listen(self.engine, "rollback", self._rolled_back)
        self._installed = True

    def remove(self) -> None:
        """Stop watching."""
        if not self._installed:
            return
        event.remove(self.engine, "after_cursor_execute", self._executed)
        event.remove(self.engine, "commit", self._committing)
        event.remove(self.engine, "rollback", self._rolled_back)
        self._installed = False

    def _executed(
        self,
        connection: Connection,
        _cursor: DBAPICursor,
        _statement: str,
        _parameters: Any,
        context: ExecutionContext | None,
        _executemany: bool,
    ) -> None:
        if context is None or not context.isinsert:
            return
        compiled = context.compiled
        table = getattr(compiled.statement, "table", None) if compiled is not None else None
        if not any(table is work for work in _WORK):
            return
        # One parameter set per row, whether one row was inserted or many.
        found = {row.get("channel") for row in getattr(context, "compiled_parameters", ())}
        noted: set[str] = connection.info.setdefault(_KEY, set())
        noted.update(name for name in found if isinstance(name, str) and name in self.channels)

    def _committing(self, connection: Connection) -> None:
        noted: set[str] = connection.info.pop(_KEY, set())
        if not noted:
            return
        # A PostgreSQL store runs on psycopg 3: this is its transaction's own connection.
        raw = cast(psycopg.Connection[Any], connection.connection.dbapi_connection)
        for name in sorted(noted):
            if self.deferrer.defer_on(raw, FLUSH, name):
                self.deferred += 1
                logger.debug("flush of %s queued with the work that needs it", name)

    def _rolled_back(self, connection: Connection) -> None:
        connection.info.pop(_KEY, None)
