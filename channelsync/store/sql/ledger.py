"""The stock ledger on SQLAlchemy Core: events, reservations and positions (marks: marks.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    case,
    func,
    literal_column,
    select,
    update,
)
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    AppliedUnderLock,
    LedgerEvent,
    StockPosition,
    WarehouseStock,
)
from channelsync.store.sql._common import (
    ledger_event,
    upsert_insert,
)
from channelsync.store.sql._driver import driver_statement
from channelsync.store.sql._fast import (
    bound_list,
    delete_rows,
    in_list,
    insert_rows,
    one_of,
    stored_time,
    update_rows,
)
from channelsync.store.sql.marks import SqlChangeMarks

__all__ = ["SqlLedger"]


def _first_unapplied(
    events: Sequence[LedgerEvent], applied_before: set[str]
) -> tuple[list[bool], list[LedgerEvent]]:
    """Return, per event, whether it is new, and the new ones (a key's first occurrence)."""
    seen = set(applied_before)
    answers: list[bool] = []
    fresh: list[LedgerEvent] = []
    for event in events:
        new = event.idempotency_key not in seen
        seen.add(event.idempotency_key)
        answers.append(new)
        if new:
            fresh.append(event)
    return answers, fresh


class SqlLedger(SqlChangeMarks):
    """The stock ledger operations of a SQL store transaction."""

    @override
    def apply_event(self, event: LedgerEvent, now: datetime) -> bool:
        return self.apply_events([event], now)[0]

    @override
    def has_event(self, idempotency_key: str) -> bool:
        e = t.ledger_events.c
        found = self._c.execute(select(e.id).where(e.idempotency_key == idempotency_key)).first()
        return found is not None

    @override
    def set_safety_stock(self, sku_id: int, quantity: int) -> None:
        self._c.execute(
            update(t.skus)
            .where(t.skus.c.id == sku_id)
            .values(safety_stock=quantity, dirty=True, change_count=t.skus.c.change_count + 1)
        )

    @override
    def reservation(self, channel: str, order_id: str, sku_id: int) -> int:
        r = t.reservations.c
        found = self._c.execute(
            select(r.quantity).where(
                r.channel == channel, r.order_id == order_id, r.sku_id == sku_id
            )
        ).scalar()
        return int(found or 0)

    @override
    def on_hand(self, sku_id: int) -> dict[str, int]:
        rows = self._c.execute(
            select(t.stock.c.warehouse, t.stock.c.on_hand).where(t.stock.c.sku_id == sku_id)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    @override
    def positions(self, sku_ids: Iterable[int]) -> dict[int, StockPosition]:
        ids = list(sku_ids)
        if not ids:
            return {}
        s, k, r = t.skus.c, t.stock.c, t.reservations.c
        # One statement: each SKU's units summed where they lie (both sums use an index).
        on_hand = select(func.coalesce(func.sum(k.on_hand), 0)).where(k.sku_id == s.id)
        reserved = select(func.coalesce(func.sum(r.quantity), 0)).where(r.sku_id == s.id)
        query = select(
            s.id, on_hand.scalar_subquery(), reserved.scalar_subquery(), s.safety_stock
        ).where(one_of(self._c, s.id, ids))
        found = {
            sku_id: StockPosition(sku_id, int(units), int(held), safety)
            for sku_id, units, held, safety in self._c.execute(query).all()
        }
        return {sku_id: found[sku_id] for sku_id in ids if sku_id in found}

    @override
    def recent_sales(self, sku_ids: Iterable[int], since: datetime) -> dict[tuple[int, str], int]:
        return self.sales_since(sku_ids, [since])[0]

    @override
    def sales_since(
        self, sku_ids: Iterable[int], since: Sequence[datetime]
    ) -> list[dict[tuple[int, str], int]]:
        windows: list[dict[tuple[int, str], int]] = [{} for _ in since]
        ids = list(dict.fromkeys(sku_ids))
        if not ids or not since:
            return windows
        e = t.ledger_events.c
        # One pass over the widest window, a sum per window: each event row is found
        # once (the index holds sku_id and at; channel and units are in the table).
        sums = [func.sum(case((e.at >= at, e.reserved_delta), else_=0)) for at in since]
        query = (
            select(e.sku_id, e.channel, *sums)
            .where(
                one_of(self._c, e.sku_id, ids),
                e.at >= min(since),
                e.reserved_delta > 0,
                e.channel.is_not(None),
            )
            .group_by(e.sku_id, e.channel)
        )
        for sku_id, channel, *totals in self._c.execute(query).all():
            for window, total in zip(windows, totals, strict=True):
                # Every unit counted is a reservation (> 0): 0 means none in the window.
                if total:
                    window[(sku_id, channel)] = int(total)
        return windows

    @override
    def skus_sold_on(
        self, channels: Iterable[str], since: datetime, until: datetime | None = None
    ) -> set[int]:
        names = list(dict.fromkeys(channels))
        if not names:
            return set()
        e = t.ledger_events.c
        query = (
            select(e.sku_id)
            .where(
                one_of(self._c, e.channel, names),
                e.at >= since,
                # A literal, as the partial index ix_ledger_events_sold says it.
                e.reserved_delta > literal_column("0"),
            )
            .distinct()
        )
        if until is not None:
            query = query.where(e.at < until)
        return {int(sku_id) for sku_id in self._c.execute(query).scalars()}

    @override
    def ledger(self, sku_id: int | None = None) -> list[LedgerEvent]:
        query = select(t.ledger_events).order_by(t.ledger_events.c.id)
        if sku_id is not None:
            query = query.where(t.ledger_events.c.sku_id == sku_id)
        return [ledger_event(r) for r in self._c.execute(query)]

    def on_hand_many(self, sku_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Return on-hand stock per warehouse of each SKU that has any."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        s = t.stock.c
        ids = list(dict.fromkeys(sku_ids))
        if ids:
            query = select(s.sku_id, s.warehouse, s.on_hand).where(one_of(self._c, s.sku_id, ids))
            for sku_id, warehouse, on_hand in self._c.execute(query):
                found[int(sku_id)][str(warehouse)] = int(on_hand)
        return dict(found)

    def applied_events(self, idempotency_keys: Iterable[str]) -> set[str]:
        """Return which of these event keys have been applied."""
        keys = list(dict.fromkeys(idempotency_keys))
        if not keys:
            return set()
        # A page of orders asks for thousands of keys, twice: on the driver, the list
        # bound as one value (PostgreSQL: a binary array, no escaping of its elements).
        statement = driver_statement(self._c, "ledger.applied", self._applied_by_list)
        rows = statement.run(self._c, {"keys": bound_list(self._c, keys)})
        return {str(key) for (key,) in rows}

    def _applied_by_list(self) -> Select[Any]:
        e = t.ledger_events.c
        return select(e.idempotency_key).where(in_list(self._c, e.idempotency_key, "keys"))

    def reservations(self, channel: str, order_ids: Iterable[str]) -> dict[tuple[str, int], int]:
        """Return units still reserved per ``(order_id, sku_id)`` for these orders."""
        r = t.reservations.c
        found: dict[tuple[str, int], int] = {}
        ids = list(dict.fromkeys(order_ids))
        if ids:
            query = select(r.order_id, r.sku_id, r.quantity).where(
                r.channel == channel, one_of(self._c, r.order_id, ids)
            )
            for order_id, sku_id, quantity in self._c.execute(query):
                found[(str(order_id), int(sku_id))] = int(quantity)
        return found

    @override
    def reservation_warehouses(
        self, channel: str, order_ids: Iterable[str]
    ) -> dict[tuple[str, int], str]:
        r = t.reservations.c
        found: dict[tuple[str, int], str] = {}
        ids = list(dict.fromkeys(order_ids))
        if ids:
            query = select(r.order_id, r.sku_id, r.warehouse).where(
                r.channel == channel, one_of(self._c, r.order_id, ids)
            )
            for order_id, sku_id, warehouse in self._c.execute(query):
                found[(str(order_id), int(sku_id))] = str(warehouse)
        return found

    @override
    def warehouse_stock(self, sku_ids: Iterable[int]) -> dict[int, dict[str, WarehouseStock]]:
        on_hand: dict[tuple[int, str], int] = defaultdict(int)
        reserved: dict[tuple[int, str], int] = defaultdict(int)
        s, r = t.stock.c, t.reservations.c
        ids = list(dict.fromkeys(sku_ids))
        if ids:
            query = select(s.sku_id, s.warehouse, s.on_hand).where(one_of(self._c, s.sku_id, ids))
            for sku_id, warehouse, units in self._c.execute(query):
                on_hand[(int(sku_id), str(warehouse))] = int(units)
            held = (
                select(r.sku_id, r.warehouse, func.sum(r.quantity))
                .where(one_of(self._c, r.sku_id, ids))
                .group_by(r.sku_id, r.warehouse)
            )
            for sku_id, warehouse, units in self._c.execute(held):
                reserved[(int(sku_id), str(warehouse))] = int(units)
        found: dict[int, dict[str, WarehouseStock]] = defaultdict(dict)
        for sku_id, warehouse in sorted(set(on_hand) | set(reserved)):
            found[sku_id][warehouse] = WarehouseStock(
                on_hand=on_hand.get((sku_id, warehouse), 0),
                reserved=reserved.get((sku_id, warehouse), 0),
            )
        return dict(found)

    @override
    def warehouses(self) -> list[str]:
        # Sorted here: a database's collation may order names otherwise.
        query = select(t.stock.c.warehouse).distinct()
        return sorted(str(w) for w in self._c.execute(query).scalars())

    def apply_events(
        self,
        events: Sequence[LedgerEvent],
        now: datetime,
        *,
        known: AppliedUnderLock | None = None,
    ) -> list[bool]:
        """Record and apply ``events`` in order; return, per event, whether it was new.

        Safe with many writers: the SKUs the new events touch are locked first (one
        fixed order), and the keys and reservations are read again under that lock,
        so two transactions changing a SKU's reservations queue up instead of one
        overwriting the other. An event recorded meanwhile by a writer that held no lock
        in common (the same key for another SKU) is caught by the key's unique
        constraint and counted as applied before, never as an error.
        """
        if not events:
            return []
        keys = [e.idempotency_key for e in events]
        if known is not None and all(e.sku_id in known.sku_ids for e in events):
            # The caller holds these SKUs' locks and read their keys under them: no
            # other writer can have applied one of their events since.
            applied, fresh = _first_unapplied(events, set(known.keys))
        else:
            # Without a lock first: a replay of applied events writes (and waits for) nothing.
            before = self.applied_events(keys)
            if all(e.idempotency_key in before for e in events):
                return [False] * len(events)
            self.lock_skus(e.sku_id for e in events if e.idempotency_key not in before)
            applied, fresh = _first_unapplied(events, self.applied_events(keys))
        if not fresh:
            return applied
        reserved = self._reservation_totals(fresh, now)  # raises before anything is written
        recorded = self._record_events(fresh, now)
        if len(recorded) < len(fresh):
            # Another transaction committed some of these keys after they were read:
            # applied there, so not here (the reservations are read again, with theirs).
            applied = [
                a and e.idempotency_key in recorded for a, e in zip(applied, events, strict=True)
            ]
            fresh = [e for e in fresh if e.idempotency_key in recorded]
            reserved = self._reservation_totals(fresh, now)
        if not fresh:
            return applied
        on_hand: dict[tuple[int, str], int] = defaultdict(int)
        for event in fresh:
            if event.on_hand_delta:
                on_hand[(event.sku_id, event.warehouse)] += event.on_hand_delta
        insert_rows(
            self._c,
            "stock.add",
            t.stock,
            [{"sku_id": s, "warehouse": w, "on_hand": d} for (s, w), d in on_hand.items()],
            conflict=_add_stock,
        )
        self._write_reservations(reserved, now)
        self._mark_dirty({e.sku_id for e in fresh})
        return applied

    def _record_events(self, events: Sequence[LedgerEvent], now: datetime) -> set[str]:
        """Insert the events' rows; return the keys inserted (a key already there is skipped).

        ``ON CONFLICT (idempotency_key) DO NOTHING``: on PostgreSQL an insert of a key
        another transaction has just inserted waits for it, then skips the row if it
        committed. Any other failure (an unknown SKU) still raises.
        """
        time = stored_time(self._c)(now)
        rows = [
            {
                "idempotency_key": event.idempotency_key,
                "kind": str(event.kind),
                "sku_id": event.sku_id,
                "warehouse": event.warehouse,
                "on_hand_delta": event.on_hand_delta,
                "reserved_delta": event.reserved_delta,
                "channel": event.channel,
                "order_id": event.order_id,
                "note": event.note,
                "at": time,
            }
            for event in events
        ]
        # Usually every row goes in: then the count says so, without a row back per event.
        # Should a key have been committed meanwhile, the rows are inserted again, each
        # saying whether it went in.
        with self._c.begin_nested() as savepoint:
            result = insert_rows(self._c, "ledger.record", t.ledger_events, rows, conflict=_new_key)
            every = result is None or result.rowcount == len(rows)
            if not every:
                savepoint.rollback()
        if every:
            return {event.idempotency_key for event in events}
        e = t.ledger_events.c
        statement = _new_key(upsert_insert(self._c, t.ledger_events)).returning(e.idempotency_key)
        typed = [
            {**row, "kind": event.kind, "at": now} for row, event in zip(rows, events, strict=True)
        ]
        return {str(key) for key in self._c.execute(statement, typed).scalars()}

    def _reservation_totals(
        self, events: Sequence[LedgerEvent], now: datetime
    ) -> dict[tuple[str, str, int], tuple[int | None, int, str]]:
        """Return ``(before, after, warehouse)`` per reservation; raise before anything is written.

        ``warehouse`` is where a new reservation is held: the warehouse of the event that
        creates it (a reservation already stored keeps its own).
        """
        moving = [e for e in events if e.reserved_delta]
        for event in moving:
            if event.channel is None or event.order_id is None:
                raise ValueError(
                    f"event {event.idempotency_key!r} reserves without channel and order"
                )
        current: dict[tuple[str, str, int], int] = {}
        by_channel: dict[str, set[str]] = defaultdict(set)
        for event in moving:
            assert event.channel is not None
            assert event.order_id is not None
            by_channel[event.channel].add(event.order_id)
        for channel, order_ids in by_channel.items():
            for (order_id, sku_id), quantity in self.reservations(channel, order_ids).items():
                current[(channel, order_id, sku_id)] = quantity
        totals: dict[tuple[str, str, int], tuple[int | None, int, str]] = {}
        for event in moving:
            assert event.channel is not None
            assert event.order_id is not None
            key = (event.channel, event.order_id, event.sku_id)
            first = (current.get(key), current.get(key, 0), event.warehouse)
            before, running, warehouse = totals.get(key, first)
            running += event.reserved_delta
            if running < 0:
                raise ValueError(
                    f"event {event.idempotency_key!r} releases more than order "
                    f"{event.order_id!r} reserved ({running - event.reserved_delta})"
                )
            totals[key] = (before, running, warehouse)
        return totals

    def _write_reservations(
        self, totals: Mapping[tuple[str, str, int], tuple[int | None, int, str]], now: datetime
    ) -> None:
        at = stored_time(self._c)(now)
        created = [
            {"channel": c, "order_id": o, "sku_id": s, "quantity": after, "warehouse": w, "at": at}
            for (c, o, s), (before, after, w) in totals.items()
            if before is None and after
        ]
        changed = [
            {"_channel": c, "_order": o, "_sku": s, "quantity": after}
            for (c, o, s), (before, after, _) in totals.items()
            if before is not None and after and after != before
        ]
        emptied = [
            {"_channel": c, "_order": o, "_sku": s}
            for (c, o, s), (before, after, _) in totals.items()
            if before is not None and not after
        ]
        # Each reservation's writers hold its SKU's lock (``apply_events`` takes it first).
        insert_rows(self._c, "reservations.insert", t.reservations, created)
        update_rows(
            self._c,
            "reservations.set",
            t.reservations,
            changed,
            where=_RESERVATION,
            values={"quantity": "quantity"},
        )
        delete_rows(self._c, "reservations.delete", t.reservations, emptied, where=_RESERVATION)


#: A reservation's row, by the names ``_write_reservations`` gives its values.
_RESERVATION = {"_channel": "channel", "_order": "order_id", "_sku": "sku_id"}


def _new_key(statement: Any) -> Any:
    """Skip an event whose key is recorded already (see ``_record_events``)."""
    return statement.on_conflict_do_nothing(index_elements=[t.ledger_events.c.idempotency_key])


def _add_stock(statement: Any) -> Any:
    """Add the inserted ``on_hand`` to a SKU's units in a warehouse already stocked."""
    s = t.stock.c
    return statement.on_conflict_do_update(
        index_elements=[s.sku_id, s.warehouse],
        set_={"on_hand": s.on_hand + statement.excluded.on_hand},
    )
