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
from channelsync.store.sql._driver import (
    TimesRead,
    driver_statement,
    read_json,
    stored_json,
    stored_time,
)
from channelsync.store.sql._fast import Rows, bound_list, in_list, insert_rows
from channelsync.store.sql.outbox_statements import (
    due_after_parameters,
    due_by_parameters,
    due_query,
    enqueue_statement,
    enqueued,
    in_state,
    plain,
    settle_rows,
    upsert,
)

__all__ = ["SqlOutbox"]

#: The values of an enqueue that differ per entry (the rest are the same for all).
_PER_ENTRY = ("channel", "kind", "key", "payload", "urgency")


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
    def due(
        self,
        channel: str,
        kind: str,
        now: datetime,
        limit: int,
        *,
        after: OutboxItem | None = None,
    ) -> list[OutboxItem]:
        # A flush reads a batch at a time, a cycle thousands of batches: on the driver.
        stamp = stored_time(self._c)
        values = {"channel": channel, "kind": kind, "now": stamp(now), "limit": limit}
        if after is None:
            statement = driver_statement(self._c, "outbox.due", due_by_parameters)
        else:
            statement = driver_statement(self._c, "outbox.due_after", due_after_parameters)
            values |= {
                "after_urgency": after.urgency,
                "after_at": stamp(after.next_attempt_at),
                "after_id": after.id,
            }
        rows = statement.run(self._c, values).all()  # at once: a guard reads a channel's all
        pending, time = OutboxState.PENDING, TimesRead()
        return [
            OutboxItem(
                id=id_,
                channel=channel,
                kind=kind,
                key=key,
                payload=read_json(payload),
                version=version,
                urgency=urgency,
                state=pending,
                attempts=attempts,
                next_attempt_at=time[next_attempt_at],
                reason=reason,
            )
            for id_, key, payload, version, urgency, attempts, next_attempt_at, reason in rows
        ]

    @override
    def due_carrying(self, channel: str, kind: str, now: datetime, field: str) -> list[OutboxItem]:
        query = due_query(channel, kind, now, None).where(
            # JSON_EXTRACT on SQLite, ->> on PostgreSQL: SQL NULL for a JSON null too.
            t.outbox.c.payload[field].as_string().is_not(None)
        )
        return [self._item(row) for row in self._c.execute(query)]

    @override
    def channels_with_work(self, now: datetime, parked_reason: str) -> set[str]:
        o = t.outbox.c
        due = in_state(OutboxState.PENDING) & (o.next_attempt_at <= now)
        parked = in_state(OutboxState.PARKED) & o.reason.startswith(parked_reason, autoescape=True)
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
        query = due_query(channel, kind, now, limit).with_for_update(skip_locked=True)
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
            query = query.where(in_state(state))
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
            & in_state(OutboxState.PARKED)
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
            .where(in_state(OutboxState.PARKED))
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
        # A plan queues a value per listing: most go as one row set. The first of each
        # channel goes through the typed statement, so that engine listeners on outbox
        # inserts (the workers' flush on commit) hear of every channel given work.
        first: dict[str, OutboxEntry] = {}
        rest: list[OutboxEntry] = []
        for entry in latest.values():
            if entry.channel in first:
                rest.append(entry)
            else:
                first[entry.channel] = entry
        self._c.execute(
            enqueue_statement(upsert_insert(self._c, t.outbox)),
            [enqueued(e, now) for e in first.values()],
        )
        at, dump = stored_time(self._c)(now), stored_json
        rows = [(e.channel, e.kind, e.key, dump(plain(e.payload)), e.urgency) for e in rest]
        # What every new value starts from: bound once, not once per row.
        fresh = {
            "version": 1,
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at,
            "reason": None,
            "updated_at": at,
        }
        insert_rows(
            self._c,
            "outbox.enqueue",
            t.outbox,
            Rows(_PER_ENTRY, rows),
            conflict=upsert,
            same=fresh,
        )

    def settle_many(self, outcomes: Sequence[Settlement], now: datetime) -> list[bool]:
        """Record many outcomes; return, per outcome, whether its version was current."""
        if not outcomes:
            return []
        stamp = stored_time(self._c)
        at = stamp(now)
        sent = OutboxState.SENT
        rows = [
            (
                s.state.value,
                0 if s.state is sent else 1,
                at if s.next_attempt_at is None else stamp(s.next_attempt_at),
                s.reason,
                at,
                s.item_id,
                s.version,
            )
            for s in outcomes
        ]
        if self._c.dialect.name == "sqlite":
            # One writer at a time there: the update guarded by each version settles the
            # current ones, and the versions (which a settle leaves) are read only when
            # an outcome was for an older one.
            settled = settle_rows(self._c, rows)
            if settled is not None and settled.rowcount == len(rows):
                return [True] * len(rows)
            current = self._versions(outcomes)
            return [current.get(s.item_id) == s.version for s in outcomes]
        current = self._versions(outcomes)
        answers = [current.get(s.item_id) == s.version for s in outcomes]
        # One statement per round: an entry settled twice in one call (its later
        # outcome in a later round) is settled twice, as one statement per row would.
        rounds: list[list[tuple[Any, ...]]] = []
        seen: dict[int, int] = {}
        for row, outcome, ok in zip(rows, outcomes, answers, strict=True):
            if ok:
                index = seen[outcome.item_id] = seen.get(outcome.item_id, -1) + 1
                if index == len(rounds):
                    rounds.append([])
                rounds[index].append(row)
        for chosen in rounds:
            settle_rows(self._c, chosen)
        return answers

    def _versions(self, outcomes: Sequence[Settlement]) -> dict[int, int]:
        """Return the current version of the outcomes' entries, locking them (PostgreSQL).

        Locked in id order, so two settlers of overlapping sets queue up.
        """
        ids = bound_list(self._c, sorted({s.item_id for s in outcomes}))
        statement = driver_statement(self._c, "outbox.versions", self._versions_by_list)
        return {int(i): int(v) for i, v in statement.run(self._c, {"ids": ids})}

    def _versions_by_list(self) -> Select[Any]:
        o = t.outbox.c
        return (
            select(o.id, o.version)
            .where(in_list(self._c, o.id, "ids"))
            .order_by(o.id)
            .with_for_update()
        )
