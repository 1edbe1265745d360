"""Bindings on SQLAlchemy Core: listings tied to SKUs, planned, sent and observed values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    BindingRecord,
    ListingBinding,
    StoreSession,
)
from channelsync.store.sql._bulk import converters, driver_statement
from channelsync.store.sql._common import (
    SqlPart,
    binding_record,
    chunks,
    listing_key,
    update_by_id,
)

__all__ = ["SqlBindings"]


def _binding_changes(
    before: BindingRecord | None, listing: ListingBinding, now: datetime
) -> dict[str, Any]:
    """Return the columns an upsert of ``listing`` changes on its binding ``before``."""
    values: dict[str, Any] = {"seen_at": now}
    if listing.title is not None:
        values["title"] = listing.title
    if listing.channel_quantity is not None:
        values["channel_quantity"] = listing.channel_quantity
    if before is None or listing.manual or not before.manual:
        values.update(sku_id=listing.sku_id, merchant_code=listing.merchant_code)
        values["manual"] = listing.manual
        if before is not None and before.sku_id != listing.sku_id:
            # A listing bound to another SKU starts from nothing planned or sent.
            values.update(
                planned_quantity=None, sent_quantity=None, planned_price=None, sent_price=None
            )
    return values


class SqlBindings(SqlPart, StoreSession):
    """The binding operations of a SQL store transaction.

    Updates of many bindings go in id order: two transactions updating overlapping sets
    (a flush settling, a plan, a listing read) then lock the rows they share in one
    order. A transaction that updates bindings in several statements may still meet
    another in a deadlock; PostgreSQL breaks it, and the step is retried at once.
    """

    @override
    def upsert_binding(
        self,
        *,
        channel: str,
        item_id: str,
        listing_sku_id: str | None,
        sku_id: int | None,
        merchant_code: str | None,
        manual: bool,
        title: str | None,
        channel_quantity: int | None,
        now: datetime,
    ) -> int:
        b = t.bindings.c
        where = (
            (b.channel == channel)
            & (b.item_id == item_id)
            & (b.listing_sku_id == listing_key(listing_sku_id))
        )
        row = self._c.execute(select(b.id, b.manual, b.sku_id).where(where)).first()
        observed = {"title": title, "channel_quantity": channel_quantity, "seen_at": now}
        if row is None:
            result = self._c.execute(
                insert(t.bindings).values(
                    channel=channel,
                    item_id=item_id,
                    listing_sku_id=listing_key(listing_sku_id),
                    sku_id=sku_id,
                    merchant_code=merchant_code,
                    manual=manual,
                    **observed,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        values: dict[str, Any] = dict(observed)
        if manual or not row.manual:
            values.update(sku_id=sku_id, merchant_code=merchant_code, manual=manual)
            if row.sku_id != sku_id:
                # A listing bound to another SKU starts from nothing planned or sent.
                values.update(
                    planned_quantity=None, sent_quantity=None, planned_price=None, sent_price=None
                )
        if title is None:
            del values["title"]
        if channel_quantity is None:
            del values["channel_quantity"]
        self._c.execute(update(t.bindings).where(where).values(**values))
        return int(row.id)

    @override
    def bindings(
        self, *, channel: str | None = None, sku_ids: Iterable[int] | None = None
    ) -> list[BindingRecord]:
        b = t.bindings.c
        query = _select_records().order_by(b.channel, b.item_id, b.listing_sku_id)
        if channel is not None:
            query = query.where(b.channel == channel)
        if sku_ids is None:
            return self._records(query)
        found: list[BindingRecord] = []
        for chunk in chunks(list(sku_ids)):
            found += self._records(query.where(b.sku_id.in_(chunk)))
        return found

    def _records(self, query: Select[*tuple[Any, ...]]) -> list[BindingRecord]:
        """Run a :func:`_select_records` query; return its bindings."""
        # Every listing of every channel is read a few times a cycle: the values are
        # converted here, not by the column types row by row.
        time = converters(self._c).read_optional_time
        return [
            BindingRecord(
                id=row[0],
                channel=row[1],
                item_id=row[2],
                listing_sku_id=row[3] or None,
                sku_id=row[4],
                merchant_code=row[5],
                manual=bool(row[6]),
                title=row[7],
                channel_quantity=row[8],
                planned_quantity=row[9],
                sent_quantity=row[10],
                planned_price=row[11],
                sent_price=row[12],
                seen_at=time(row[13]),
                sent_at=time(row[14]),
                held_since=time(row[15]),
                held_shown=row[16],
            )
            for row in self._c.execute(query)
        ]

    @override
    def bindings_of_items(self, channel: str, item_ids: Iterable[str]) -> list[BindingRecord]:
        b = t.bindings.c
        query = _select_records().where(b.channel == channel).order_by(b.item_id, b.listing_sku_id)
        found: list[BindingRecord] = []
        for chunk in chunks(sorted(set(item_ids))):
            found += self._records(query.where(b.item_id.in_(chunk)))
        return found

    @override
    def binding_for_listing(
        self, channel: str, item_id: str, listing_sku_id: str | None
    ) -> BindingRecord | None:
        b = t.bindings.c
        row = self._c.execute(
            select(t.bindings).where(
                b.channel == channel,
                b.item_id == item_id,
                b.listing_sku_id == listing_key(listing_sku_id),
            )
        ).first()
        return None if row is None else binding_record(row)

    @override
    def set_planned(
        self, binding_id: int, *, quantity: int | None = None, price: str | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if quantity is not None:
            values["planned_quantity"] = quantity
        if price is not None:
            values["planned_price"] = price
        if values:
            self._c.execute(update(t.bindings).where(t.bindings.c.id == binding_id).values(values))

    @override
    def set_sent(
        self,
        binding_id: int,
        *,
        quantity: int | None = None,
        price: str | None = None,
        now: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if quantity is not None:
            values["sent_quantity"] = quantity
            if now is not None:
                # Once accepted, the quantity is what the channel shows.
                values.update(sent_at=now, channel_quantity=quantity, seen_at=now)
        if price is not None:
            values["sent_price"] = price
        if values:
            self._c.execute(update(t.bindings).where(t.bindings.c.id == binding_id).values(values))

    @override
    def set_observed(self, binding_id: int, quantity: int, now: datetime) -> None:
        self._c.execute(
            update(t.bindings)
            .where(t.bindings.c.id == binding_id)
            .values(channel_quantity=quantity, seen_at=now)
        )

    @override
    def set_hold(self, binding_id: int, since: datetime | None, shown: int | None) -> None:
        self._c.execute(
            update(t.bindings)
            .where(t.bindings.c.id == binding_id)
            .values(held_since=since, held_shown=None if since is None else shown)
        )

    @override
    def units_ordered_since(self, channel: str, sku_id: int, since: datetime) -> int:
        e, o = t.ledger_events.c, t.orders.c
        rows = self._c.execute(
            select(e.order_id, e.reserved_delta, e.on_hand_delta)
            .join(t.orders, (o.channel == e.channel) & (o.order_id == e.order_id))
            .where(
                e.channel == channel,
                e.sku_id == sku_id,
                e.kind.in_(("order_reserved", "order_shipped")),
                o.created_at >= since,
            )
        )
        # An order reserves, then consumes when it ships: count its units once.
        units: dict[str, int] = {}
        for order_id, reserved, on_hand in rows:
            units[order_id] = max(units.get(order_id, 0), reserved, -on_hand)
        return sum(units.values())

    def has_bindings(self, channel: str) -> bool:
        """Return whether any listing of ``channel`` has a binding (bound or not) yet."""
        query = select(t.bindings.c.id).where(t.bindings.c.channel == channel).limit(1)
        return self._c.execute(query).first() is not None

    def bindings_for_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], BindingRecord]:
        """Return the bindings of ``(item_id, listing_sku_id)`` listings of one channel."""
        wanted = {(item_id, sku_id or "") for item_id, sku_id in listings}
        b = t.bindings.c
        found: dict[tuple[str, str], BindingRecord] = {}
        for chunk in chunks(sorted({item_id for item_id, _ in wanted})):
            query = _select_records().where(b.channel == channel, b.item_id.in_(chunk))
            for record in self._records(query):
                key = (record.item_id, record.listing_sku_id or "")
                if key in wanted:
                    found[key] = record
        return found

    def upsert_bindings(self, listings: Sequence[ListingBinding], now: datetime) -> set[int]:
        """Create or update the bindings of many listings; return the newly bound SKU ids."""
        latest: dict[tuple[str, str, str], ListingBinding] = {}
        for listing in listings:
            latest[(listing.channel, listing.item_id, listing.listing_sku_id or "")] = listing
        existing: dict[tuple[str, str, str], BindingRecord] = {}
        by_channel: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for channel, item_id, sku_id in latest:
            by_channel[channel].append((item_id, sku_id))
        for channel, keys in by_channel.items():
            for (item_id, sku_id), record in self.bindings_for_listings(channel, keys).items():
                existing[(channel, item_id, sku_id)] = record
        created: list[tuple[Any, ...]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        bound: set[int] = set()
        seen_at = converters(self._c).time(now)
        for key, listing in latest.items():
            before = existing.get(key)
            if before is None:
                created.append(
                    (
                        listing.channel,
                        listing.item_id,
                        key[2],
                        listing.sku_id,
                        listing.merchant_code,
                        listing.manual,
                        listing.title,
                        listing.channel_quantity,
                        seen_at,
                    )
                )
            values = _binding_changes(before, listing, now)
            if before is not None:
                updates[tuple(sorted(values))].append({"_id": before.id, **values})
            rebound = "sku_id" in values and (before is None or before.sku_id != listing.sku_id)
            if rebound and listing.sku_id is not None:
                bound.add(listing.sku_id)
        # A first read of a channel creates a binding per listing: on the driver.
        driver_statement(self._c, "bindings.insert", _insert_binding, _INSERTED).run_many(
            self._c, created
        )
        for columns, rows in updates.items():
            rows.sort(key=lambda row: int(row["_id"]))
            self._c.execute(update_by_id(t.bindings, columns), rows)
        return bound

    def set_planned_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
    ) -> None:
        """Remember the values last queued, per binding id."""
        # A plan remembers a value per listing it queues: on the driver.
        if quantities:
            _set_by_id(self._c, "planned_quantity", [(q, i) for i, q in sorted(quantities.items())])
        if prices:
            _set_by_id(self._c, "planned_price", [(p, i) for i, p in sorted(prices.items())])

    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels last accepted, per binding id."""
        # A flush remembers what every batch set: on the driver, values converted once.
        if quantities:
            at = converters(self._c).time(now)
            # Once accepted, the quantity is what the channel shows.
            _set_by_id(
                self._c,
                "channel_quantity",
                [(q, q, at, at, i) for i, q in sorted(quantities.items())],
                "sent_quantity",
                "seen_at",
                "sent_at",
            )
        if prices:
            _set_by_id(self._c, "sent_price", [(p, i) for i, p in sorted(prices.items())])


_RECORD_COLUMNS = (
    "id",
    "channel",
    "item_id",
    "listing_sku_id",
    "sku_id",
    "merchant_code",
    "manual",
    "title",
    "channel_quantity",
    "planned_quantity",
    "sent_quantity",
    "planned_price",
    "sent_price",
    "seen_at",
    "sent_at",
    "held_since",
    "held_shown",
)


def _select_records() -> Select[*tuple[Any, ...]]:
    """Select a binding's columns in :class:`BindingRecord` order, as the driver gives them.

    The columns are typeless here, so no per-row type processing runs:
    :meth:`SqlBindings._records` converts the values itself.
    """
    c = t.bindings.c
    return select(*(type_coerce(c[name], NullType()).label(name) for name in _RECORD_COLUMNS))


_INSERTED = (
    "channel",
    "item_id",
    "listing_sku_id",
    "sku_id",
    "merchant_code",
    "manual",
    "title",
    "channel_quantity",
    "seen_at",
)


def _insert_binding() -> Insert:
    """Insert one binding, every value bound (see ``upsert_bindings``)."""
    return insert(t.bindings).values({name: bindparam(name) for name in _INSERTED})


def _set_by_id(
    connection: Connection, column: str, rows: Sequence[tuple[Any, ...]], *more: str
) -> None:
    """Set ``column`` (and ``more`` columns) of many bindings: rows of values, then the id.

    Columns named in the table's order go to SQLite as they are (any order works).
    """
    columns = (column, *more)

    def build() -> Update:
        statement: Update = update_by_id(t.bindings, columns)
        return statement

    statement = driver_statement(
        connection, f"bindings.set.{'.'.join(columns)}", build, (*columns, "_id")
    )
    statement.run_many(connection, rows)
