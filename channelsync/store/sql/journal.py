"""The audit trail and pull cursors on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    AuditEntry,
    StoreSession,
)
from channelsync.store.sql._common import SqlPart, audit_entry, upsert_insert
from channelsync.store.sql._driver import stored_json, stored_time
from channelsync.store.sql._fast import Rows, insert_rows

__all__ = ["SqlJournal"]


class SqlJournal(SqlPart, StoreSession):
    """The audit-trail and cursor operations of a SQL store transaction."""

    @override
    def cursor(self, channel: str, kind: str) -> tuple[datetime, str | None] | None:
        c = t.cursors.c
        row = self._c.execute(
            select(c.since, c.token).where(c.channel == channel, c.kind == kind)
        ).first()
        return None if row is None else (row.since, row.token)

    @override
    def set_cursor(self, channel: str, kind: str, since: datetime, token: str | None) -> None:
        c = t.cursors.c
        # One statement: two writers of a new cursor must not both try to insert it.
        row = upsert_insert(self._c, t.cursors).values(
            channel=channel, kind=kind, since=since, token=token
        )
        self._c.execute(
            row.on_conflict_do_update(
                index_elements=[c.channel, c.kind], set_={"since": since, "token": token}
            )
        )

    @override
    def cursors(self, kind: str) -> dict[str, tuple[datetime, str | None]]:
        c = t.cursors.c
        rows = self._c.execute(select(c.channel, c.since, c.token).where(c.kind == kind))
        return {row.channel: (row.since, row.token) for row in rows}

    @override
    def delete_cursor(self, channel: str, kind: str) -> bool:
        c = t.cursors.c
        result = self._c.execute(delete(t.cursors).where(c.channel == channel, c.kind == kind))
        return result.rowcount > 0

    @override
    def audit(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        sent: Mapping[str, Any],
        ok: bool,
        answer: str | None,
        now: datetime,
    ) -> None:
        self._c.execute(
            insert(t.audit).values(
                at=now, channel=channel, kind=kind, key=key, sent=dict(sent), ok=ok, answer=answer
            )
        )

    @override
    def audit_trail(
        self,
        *,
        channel: str | None = None,
        key: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        a = t.audit.c
        query = select(t.audit).order_by(a.id)
        if channel is not None:
            query = query.where(a.channel == channel)
        if key is not None:
            query = query.where(a.key == key)
        if kind is not None:
            query = query.where(a.kind == kind)
        if since is not None:
            query = query.where(a.at >= since)
        return [audit_entry(r) for r in self._c.execute(query)]

    def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Record many sends and answers (each at its own ``at``)."""
        # Every item a flush sends is audited: one row set, values converted once.
        stamp, dump = stored_time(self._c), stored_json
        # A batch's entries share their time: converted once.
        stamps = {at: stamp(at) for at in {e.at for e in entries}}
        rows = [
            (stamps[e.at], e.channel, e.kind, e.key, dump(_plain(e.sent)), e.ok, e.answer)
            for e in entries
        ]
        insert_rows(self._c, "audit.insert", t.audit, Rows(_AUDITED, rows))


# Every column but the id, in the table's order: SQLite takes rows in it as they are.
_AUDITED = ("at", "channel", "kind", "key", "sent", "ok", "answer")


def _plain(sent: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``sent`` as a dict for the JSON encoder (copied only when it is not one)."""
    return sent if type(sent) is dict else dict(sent)
