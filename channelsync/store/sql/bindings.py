"""Bindings on SQLAlchemy Core: listings tied to SKUs, planned, sent and observed values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    insert,
    select,
    update,
)
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import (
    BindingRecord,
    ListingBinding,
    StoreSession,
)
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
        query = select(t.bindings).order_by(b.channel, b.item_id, b.listing_sku_id)
        if channel is not None:
            query = query.where(b.channel == channel)
        if sku_ids is None:
            return [binding_record(r) for r in self._c.execute(query)]
        found: list[BindingRecord] = []
        for chunk in chunks(list(sku_ids)):
            found += [binding_record(r) for r in self._c.execute(query.where(b.sku_id.in_(chunk)))]
        return found

    @override
    def bindings_of_items(self, channel: str, item_ids: Iterable[str]) -> list[BindingRecord]:
        b = t.bindings.c
        query = select(t.bindings).where(b.channel == channel).order_by(b.item_id, b.listing_sku_id)
        found: list[BindingRecord] = []
        for chunk in chunks(sorted(set(item_ids))):
            found += [binding_record(r) for r in self._c.execute(query.where(b.item_id.in_(chunk)))]
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
            query = select(t.bindings).where(b.channel == channel, b.item_id.in_(chunk))
            for row in self._c.execute(query):
                key = (str(row.item_id), str(row.listing_sku_id))
                if key in wanted:
                    found[key] = binding_record(row)
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
        created: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        bound: set[int] = set()
        for key, listing in latest.items():
            before = existing.get(key)
            if before is None:
                created.append(
                    {
                        "channel": listing.channel,
                        "item_id": listing.item_id,
                        "listing_sku_id": key[2],
                        "sku_id": listing.sku_id,
                        "merchant_code": listing.merchant_code,
                        "manual": listing.manual,
                        "title": listing.title,
                        "channel_quantity": listing.channel_quantity,
                        "seen_at": now,
                    }
                )
            values = _binding_changes(before, listing, now)
            if before is not None:
                updates[tuple(sorted(values))].append({"_id": before.id, **values})
            rebound = "sku_id" in values and (before is None or before.sku_id != listing.sku_id)
            if rebound and listing.sku_id is not None:
                bound.add(listing.sku_id)
        if created:
            self._c.execute(insert(t.bindings), created)
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
        if quantities:
            self._c.execute(
                update_by_id(t.bindings, ["planned_quantity"]),
                [{"_id": i, "planned_quantity": q} for i, q in sorted(quantities.items())],
            )
        if prices:
            self._c.execute(
                update_by_id(t.bindings, ["planned_price"]),
                [{"_id": i, "planned_price": p} for i, p in sorted(prices.items())],
            )

    def set_sent_many(
        self,
        *,
        quantities: Mapping[int, int] | None = None,
        prices: Mapping[int, str] | None = None,
        now: datetime,
    ) -> None:
        """Remember the values the channels last accepted, per binding id."""
        if quantities:
            # Once accepted, the quantity is what the channel shows.
            columns = ["sent_quantity", "sent_at", "channel_quantity", "seen_at"]
            self._c.execute(
                update_by_id(t.bindings, columns),
                [
                    {
                        "_id": i,
                        "sent_quantity": q,
                        "sent_at": now,
                        "channel_quantity": q,
                        "seen_at": now,
                    }
                    for i, q in sorted(quantities.items())
                ],
            )
        if prices:
            self._c.execute(
                update_by_id(t.bindings, ["sent_price"]),
                [{"_id": i, "sent_price": p} for i, p in sorted(prices.items())],
            )
