"""Bindings on SQLAlchemy Core: listings tied to SKUs, planned, sent and observed values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    BindingRecord,
    ListingBinding,
    StoreSession,
)
from channelsync.store.sql._common import SqlPart, binding_record, listing_key
from channelsync.store.sql._driver import TimesRead, driver_statement, stored_time
from channelsync.store.sql._fast import (
    Rows,
    bound_list,
    in_list,
    insert_rows,
    one_of,
    update_rows,
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
        values: dict[str, Any] = {}
        if channel is not None:
            values["channel"] = channel
        if sku_ids is not None:
            wanted = list(sku_ids)
            if not wanted:
                return []
            values["sku_ids"] = bound_list(self._c, wanted)
        b = t.bindings.c

        def build() -> Select[*tuple[Any, ...]]:
            query = _select_records().order_by(b.channel, b.item_id, b.listing_sku_id)
            if channel is not None:
                query = query.where(b.channel == bindparam("channel"))
            if sku_ids is not None:
                query = query.where(in_list(self._c, b.sku_id, "sku_ids"))
            return query

        return self._records(f"bindings.read.{'.'.join(values)}", build, values)

    def _records(
        self, name: str, build: Callable[[], Select[*tuple[Any, ...]]], values: Mapping[str, Any]
    ) -> list[BindingRecord]:
        """Run the :func:`_select_records` query ``name``; return its bindings."""
        # The planner reads the bindings of every SKU it plans, every listing of every
        # channel is read a few times a cycle: on the driver, values converted here.
        rows = driver_statement(self._c, name, build).run(self._c, values).all()
        time = TimesRead()
        return [
            BindingRecord(
                id_,
                channel,
                item_id,
                listing_sku_id or None,
                sku_id,
                merchant_code,
                bool(manual),
                title,
                channel_quantity,
                planned_quantity,
                sent_quantity,
                planned_price,
                sent_price,
                time[seen_at],
                time[sent_at],
                time[held_since],
                held_shown,
            )
            for (
                id_,
                channel,
                item_id,
                listing_sku_id,
                sku_id,
                merchant_code,
                manual,
                title,
                channel_quantity,
                planned_quantity,
                sent_quantity,
                planned_price,
                sent_price,
                seen_at,
                sent_at,
                held_since,
                held_shown,
            ) in rows
        ]

    def _of_items(
        self, channel: str, item_ids: Iterable[str], *, ordered: bool
    ) -> list[BindingRecord]:
        """Return the bindings of a channel's items (by item and listing if ``ordered``)."""
        wanted = sorted(set(item_ids))
        if not wanted:
            return []
        b = t.bindings.c

        def build() -> Select[*tuple[Any, ...]]:
            query = _select_records().where(
                b.channel == bindparam("channel"), in_list(self._c, b.item_id, "item_ids")
            )
            return query.order_by(b.item_id, b.listing_sku_id) if ordered else query

        values = {"channel": channel, "item_ids": bound_list(self._c, wanted)}
        return self._records(f"bindings.of_items.{ordered}", build, values)

    @override
    def bindings_of_items(self, channel: str, item_ids: Iterable[str]) -> list[BindingRecord]:
        return self._of_items(channel, item_ids, ordered=True)

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
    def set_observed_many(self, quantities: Mapping[int, int], now: datetime) -> None:
        # A reconcile looks at every listing of a channel: one row set, not a statement each.
        if quantities:
            at = stored_time(self._c)(now)
            rows = [(q, at, i) for i, q in sorted(quantities.items())]
            _set_by_id(self._c, ("channel_quantity", "seen_at"), rows)

    @override
    def set_hold(self, binding_id: int, since: datetime | None, shown: int | None) -> None:
        self._c.execute(
            update(t.bindings)
            .where(t.bindings.c.id == binding_id)
            .values(held_since=since, held_shown=None if since is None else shown)
        )

    @override
    def units_ordered_since(self, channel: str, sku_id: int, since: datetime) -> int:
        return self.units_ordered_since_many({(channel, sku_id): since})[(channel, sku_id)]

    @override
    def units_ordered_since_many(
        self, wanted: Mapping[tuple[str, int], datetime]
    ) -> dict[tuple[str, int], int]:
        if not wanted:
            return {}
        e, o = t.ledger_events.c, t.orders.c
        # One read for every pair: their channels' and SKUs' events since the earliest
        # time asked, each row then kept only for its own pair's time.
        rows = self._c.execute(
            select(e.channel, e.sku_id, e.order_id, e.reserved_delta, e.on_hand_delta)
            .add_columns(o.created_at)
            .join(t.orders, (o.channel == e.channel) & (o.order_id == e.order_id))
            .where(
                one_of(self._c, e.channel, {channel for channel, _ in wanted}),
                one_of(self._c, e.sku_id, {sku_id for _, sku_id in wanted}),
                e.kind.in_(("order_reserved", "order_shipped")),
                o.created_at >= min(wanted.values()),
            )
        )
        # An order reserves, then consumes when it ships: count its units once.
        units: dict[tuple[str, int], dict[str, int]] = {pair: {} for pair in wanted}
        for channel, sku_id, order_id, reserved, on_hand, created_at in rows:
            since = wanted.get((channel, sku_id))
            if since is None or created_at < since:
                continue
            orders = units[(channel, sku_id)]
            orders[order_id] = max(orders.get(order_id, 0), reserved, -on_hand)
        return {pair: sum(orders.values()) for pair, orders in units.items()}

    def has_bindings(self, channel: str) -> bool:
        """Return whether any listing of ``channel`` has a binding (bound or not) yet."""
        query = select(t.bindings.c.id).where(t.bindings.c.channel == channel).limit(1)
        return self._c.execute(query).first() is not None

    def bindings_for_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], BindingRecord]:
        """Return the bindings of ``(item_id, listing_sku_id)`` listings of one channel."""
        wanted = {(item_id, sku_id or "") for item_id, sku_id in listings}
        found: dict[tuple[str, str], BindingRecord] = {}
        for record in self._of_items(channel, {item_id for item_id, _ in wanted}, ordered=False):
            key = (record.item_id, record.listing_sku_id or "")
            if key in wanted:
                found[key] = record
        return found

    @override
    def skus_of_listings(
        self, channel: str, listings: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], int]:
        wanted = {(item_id, sku_id or "") for item_id, sku_id in listings}
        item_ids = sorted({item_id for item_id, _ in wanted})
        if not item_ids:
            return {}
        b = t.bindings.c

        def build() -> Select[*tuple[Any, ...]]:
            return select(b.item_id, b.listing_sku_id, b.sku_id).where(
                b.channel == bindparam("channel"),
                in_list(self._c, b.item_id, "item_ids"),
                b.sku_id.is_not(None),
            )

        values = {"channel": channel, "item_ids": bound_list(self._c, item_ids)}
        rows = driver_statement(self._c, "bindings.skus_of_listings", build).run(self._c, values)
        found: dict[tuple[str, str], int] = {}
        for item_id, listing_sku_id, sku_id in rows:
            key = (item_id, listing_sku_id or "")
            if key in wanted:
                found[key] = int(sku_id)
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
        updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        bound: set[int] = set()
        seen_at = stored_time(self._c)(now)
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
                values["seen_at"] = seen_at
                columns = tuple(sorted(values, key=_COLUMN_ORDER.__getitem__))
                updates[columns].append((*(values[c] for c in columns), before.id))
            rebound = "sku_id" in values and (before is None or before.sku_id != listing.sku_id)
            if rebound and listing.sku_id is not None:
                bound.add(listing.sku_id)
        # A first read of a channel creates a binding per listing: one row set.
        insert_rows(self._c, "bindings.insert", t.bindings, Rows(_INSERTED, created))
        for columns, rows in updates.items():
            rows.sort(key=itemgetter(-1))
            _set_by_id(self._c, columns, rows)
        return bound

    def set_planned_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
    ) -> None:
        """Remember the values last queued, per binding id."""
        # A plan remembers a value per listing it queues: one row set. A listing given
        # both (a first plan, a price list) is written once: each row written costs the
        # database a new version of it.
        quantities = quantities or {}
        prices = prices or {}
        both = sorted(quantities.keys() & prices.keys())
        if both:
            pairs = [(quantities[i], prices[i], i) for i in both]
            _set_by_id(self._c, ("planned_quantity", "planned_price"), pairs)
        if len(both) < len(quantities):
            counts = [(q, i) for i, q in sorted(quantities.items()) if i not in prices]
            _set_by_id(self._c, ("planned_quantity",), counts)
        if len(both) < len(prices):
            texts = [(p, i) for i, p in sorted(prices.items()) if i not in quantities]
            _set_by_id(self._c, ("planned_price",), texts)

    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels last accepted, per binding id."""
        # A flush remembers what every batch set: one row set, values converted once.
        if quantities:
            at = stored_time(self._c)(now)
            # Once accepted, the quantity is what the channel shows.
            _set_by_id(
                self._c,
                ("channel_quantity", "sent_quantity", "seen_at", "sent_at"),
                [(q, q, at, at, i) for i, q in sorted(quantities.items())],
            )
        if prices:
            _set_by_id(self._c, ("sent_price",), [(p, i) for i, p in sorted(prices.items())])


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
    """Select a binding's columns in :class:`BindingRecord` order (for a driver statement).

    :meth:`SqlBindings._records` converts the values the driver gives.
    """
    c = t.bindings.c
    return select(*(c[name] for name in _RECORD_COLUMNS))


# Every column but the id, in the table's order: SQLite takes rows in it as they are.
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

_COLUMN_ORDER = {column.name: index for index, column in enumerate(t.bindings.columns)}


def _set_by_id(
    connection: Connection, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Set ``columns`` of many bindings: rows of their values (stored forms), then the id.

    The rows are locked first, in id order. Columns named in the table's order go to
    SQLite as they are (any order works).
    """
    update_rows(
        connection,
        f"bindings.set.{'.'.join(columns)}",
        t.bindings,
        Rows((*columns, "_id"), rows),
        where={"_id": "id"},
        values={column: column for column in columns},
        lock="_id",
    )
