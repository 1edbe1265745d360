"""The outbox on SQLAlchemy Core: enqueue with coalescing, due batches, settling, parking.

With many writers: enqueues and parks are single upserts, settles are guarded by the
entry's version, and workers take due entries with :meth:`SqlOutbox.claim_due`, which
leases them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) so that no two get the same one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    bindparam,
    delete,
    select,
    update,
)
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    OutboxEntry,
    OutboxItem,
    OutboxState,
    ParkedRecord,
    Settlement,
    StoreSession,
)
from channelsync.store.sql._common import (
    SqlPart,
    chunks,
    hold_write_lock,
    upsert_insert,
)

__all__ = ["SqlOutbox"]


class SqlOutbox(SqlPart, StoreSession):
    """The outbox operations of a SQL store transaction."""

    @override
    def enqueue(
        self,
        *,
        channel: str,
        kind: str,
        key: str,
        payload: Mapping[str, Any],
        urgency: int,
        now: datetime,
    ) -> int:
        # One upsert, not a read then an insert: two writers enqueueing a new target at
        # once would both insert, and the second would break the unique constraint.
        o = t.outbox.c
        values = {
            "payload": dict(payload),
            "urgency": urgency,
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "reason": None,
            "updated_at": now,
        }
        statement = upsert_insert(self._c, t.outbox).values(
            channel=channel, kind=kind, key=key, version=1, **values
        )
        statement = statement.on_conflict_do_update(
            index_elements=[o.channel, o.kind, o.key],
            set_={**{name: statement.excluded[name] for name in values}, "version": o.version + 1},
        ).returning(o.version)
        return int(self._c.execute(statement).scalar_one())

    @staticmethod
    def _item(row: Row[Any]) -> OutboxItem:
        return OutboxItem(
            id=row.id,
            channel=row.channel,
            kind=row.kind,
            key=row.key,
            payload=dict(row.payload),
            version=row.version,
            urgency=row.urgency,
            state=OutboxState(row.state),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            reason=row.reason,
        )

    @override
    def due(self, channel: str, kind: str, now: datetime, limit: int) -> list[OutboxItem]:
        return [self._item(r) for r in self._c.execute(_due(channel, kind, now, limit))]

    @override
    def channels_with_work(self, now: datetime, parked_reason: str) -> set[str]:
        o = t.outbox.c
        due = (o.state == OutboxState.PENDING.value) & (o.next_attempt_at <= now)
        parked = (o.state == OutboxState.PARKED.value) & o.reason.startswith(
            parked_reason, autoescape=True
        )
        query = select(o.channel).where(due | parked).distinct()
        return {str(channel) for channel in self._c.execute(query).scalars()}

    @override
    def claim_due(
        self, channel: str, kind: str, now: datetime, limit: int, until: datetime
    ) -> list[OutboxItem]:
        if until <= now:
            raise ValueError(f"a claim must last beyond now ({now}), not until {until}")
        o = t.outbox.c
        if self._c.dialect.name == "sqlite":
            # No SKIP LOCKED there: the database's one writer at a time. Polling an
            # empty queue stays a read; otherwise take the write lock, then select.
            if not self.due(channel, kind, now, 1):
                return []
            hold_write_lock(self._c, t.outbox)
        # FOR UPDATE SKIP LOCKED is rendered on PostgreSQL only.
        query = _due(channel, kind, now, limit).with_for_update(skip_locked=True)
        items = [self._item(r) for r in self._c.execute(query)]
        for chunk in chunks([item.id for item in items]):
            self._c.execute(
                update(t.outbox)
                .where(o.id.in_(chunk))
                .values(next_attempt_at=until, updated_at=now)
            )
        return [replace(item, next_attempt_at=until) for item in items]

    @override
    def outbox(
        self, *, channel: str | None = None, state: OutboxState | None = None
    ) -> list[OutboxItem]:
        o = t.outbox.c
        query = select(t.outbox).order_by(o.channel, o.urgency, o.id)
        if channel is not None:
            query = query.where(o.channel == channel)
        if state is not None:
            query = query.where(o.state == state.value)
        return [self._item(r) for r in self._c.execute(query)]

    @override
    def settle(
        self,
        item_id: int,
        version: int,
        state: OutboxState,
        *,
        now: datetime,
        reason: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        o = t.outbox.c
        result = self._c.execute(
            update(t.outbox)
            .where(o.id == item_id, o.version == version)
            .values(
                state=state.value,
                reason=reason,
                attempts=o.attempts + (0 if state is OutboxState.SENT else 1),
                next_attempt_at=next_attempt_at or now,
                updated_at=now,
            )
        )
        return bool(result.rowcount)

    @override
    def defer(
        self, item_id: int, version: int, *, until: datetime, reason: str, now: datetime
    ) -> bool:
        o = t.outbox.c
        result = self._c.execute(
            update(t.outbox)
            .where(o.id == item_id, o.version == version)
            .values(reason=reason, next_attempt_at=until, updated_at=now)
        )
        return bool(result.rowcount)

    @override
    def drop_parked(self, channel: str, kind: str, key: str) -> OutboxItem | None:
        o = t.outbox.c
        where = (
            (o.channel == channel)
            & (o.kind == kind)
            & (o.key == key)
            & (o.state == OutboxState.PARKED.value)
        )
        row = self._c.execute(select(t.outbox).where(where)).first()
        if row is None:
            return None
        # Still parked when deleted: a concurrent drop or requeue wins, and this one is void.
        deleted = self._c.execute(delete(t.outbox).where(where, o.version == row.version))
        return self._item(row) if deleted.rowcount else None

    @override
    def requeue_parked(
        self,
        now: datetime,
        channel: str | None = None,
        *,
        reason_prefix: str | None = None,
        parked_before: datetime | None = None,
        kind: str | None = None,
        key: str | None = None,
    ) -> int:
        o = t.outbox.c
        query = (
            update(t.outbox)
            .where(o.state == OutboxState.PARKED.value)
            .values(
                state=OutboxState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                version=o.version + 1,
                updated_at=now,
            )
        )
        if channel is not None:
            query = query.where(o.channel == channel)
        if reason_prefix is not None:
            query = query.where(o.reason.startswith(reason_prefix, autoescape=True))
        if parked_before is not None:
            query = query.where(o.updated_at < parked_before)
        if kind is not None:
            query = query.where(o.kind == kind)
        if key is not None:
            query = query.where(o.key == key)
        return int(self._c.execute(query).rowcount)

    @override
    def park(self, record: ParkedRecord, now: datetime) -> None:
        p = t.parked.c
        where = (p.channel == record.channel) & (p.kind == record.kind) & (p.key == record.key)
        self._c.execute(delete(t.parked).where(where))
        statement = upsert_insert(self._c, t.parked).values(
            channel=record.channel,
            kind=record.kind,
            key=record.key,
            reason=record.reason,
            payload=dict(record.payload),
            at=now,
        )
        # The delete makes the record the newest; should another writer park the same
        # record in between, the later of the two replaces it instead of failing.
        self._c.execute(
            statement.on_conflict_do_update(
                index_elements=[p.channel, p.kind, p.key],
                set_={name: statement.excluded[name] for name in ("reason", "payload", "at")},
            )
        )

    @override
    def unpark(self, channel: str, kind: str, key: str) -> None:
        p = t.parked.c
        self._c.execute(delete(t.parked).where(p.channel == channel, p.kind == kind, p.key == key))

    @override
    def parked(self, *, channel: str | None = None) -> list[ParkedRecord]:
        p = t.parked.c
        query = select(t.parked).order_by(p.id)
        if channel is not None:
            query = query.where(p.channel == channel)
        return [
            ParkedRecord(
                channel=r.channel,
                kind=r.kind,
                key=r.key,
                reason=r.reason,
                payload=dict(r.payload),
                at=r.at,
            )
            for r in self._c.execute(query)
        ]

    def enqueue_many(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Queue the latest value of each entry (coalescing repeats of one target)."""
        latest: dict[tuple[str, str, str], OutboxEntry] = {}
        for entry in entries:
            latest[(entry.channel, entry.kind, entry.key)] = entry
        if not latest:
            return
        statement = upsert_insert(self._c, t.outbox)
        o = t.outbox.c
        replaced = ("payload", "urgency", "state", "attempts", "next_attempt_at", "reason")
        statement = statement.on_conflict_do_update(
            index_elements=[o.channel, o.kind, o.key],
            set_={
                **{name: statement.excluded[name] for name in replaced},
                "updated_at": statement.excluded.updated_at,
                # Each enqueue bumps the version, so an older answer never settles it.
                "version": o.version + 1,
            },
        )
        self._c.execute(
            statement,
            [
                {
                    "channel": e.channel,
                    "kind": e.kind,
                    "key": e.key,
                    "payload": dict(e.payload),
                    "version": 1,
                    "urgency": e.urgency,
                    "state": OutboxState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "reason": None,
                    "updated_at": now,
                }
                for e in latest.values()
            ],
        )

    def settle_many(self, outcomes: Sequence[Settlement], now: datetime) -> list[bool]:
        """Record many outcomes; return, per outcome, whether its version was current."""
        o = t.outbox.c
        current: dict[int, int] = {}
        for chunk in chunks(sorted({s.item_id for s in outcomes})):
            query = select(o.id, o.version).where(o.id.in_(chunk)).order_by(o.id).with_for_update()
            current.update({int(i): int(v) for i, v in self._c.execute(query)})
        answers = [current.get(s.item_id) == s.version for s in outcomes]
        rows = [
            {
                "_id": s.item_id,
                "_version": s.version,
                "_attempt": 0 if s.state is OutboxState.SENT else 1,
                "state": s.state.value,
                "reason": s.reason,
                "next_attempt_at": s.next_attempt_at or now,
                "updated_at": now,
            }
            for s, current_version in zip(outcomes, answers, strict=True)
            if current_version
        ]
        if rows:
            statement = (
                update(t.outbox)
                .where(o.id == bindparam("_id"), o.version == bindparam("_version"))
                .values(
                    state=bindparam("state"),
                    reason=bindparam("reason"),
                    attempts=o.attempts + bindparam("_attempt"),
                    next_attempt_at=bindparam("next_attempt_at"),
                    updated_at=bindparam("updated_at"),
                )
            )
            self._c.execute(statement, rows)
        return answers


def _due(channel: str, kind: str, now: datetime, limit: int) -> Select[Any]:
    """Select a channel's pending entries of ``kind`` due by ``now``, most urgent first."""
    o = t.outbox.c
    return (
        select(t.outbox)
        .where(
            o.state == OutboxState.PENDING.value,
            o.channel == channel,
            o.kind == kind,
            o.next_attempt_at <= now,
        )
        .order_by(o.urgency, o.next_attempt_at, o.id)
        .limit(limit)
    )
