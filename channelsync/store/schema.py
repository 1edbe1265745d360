"""The tables of the state store, as SQLAlchemy Core metadata.

The first migration (``migrations/versions/0001_initial.py``) creates exactly these
tables; a test compares the migrated database with this metadata so the two never
drift apart. Amounts are stored as decimal TEXT beside their currency (never as a
float); times as aware ISO timestamps; flexible values (attributes, payloads, the raw
core model of an order) as JSON. Nothing secret is ever stored here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UPDATED_FILLFACTOR",
    "UtcDateTime",
    "audit",
    "bindings",
    "cursors",
    "daemon_lock",
    "inbox",
    "ledger_events",
    "metadata",
    "notifications",
    "orders",
    "outbox",
    "parked",
    "products",
    "reservations",
    "shipments",
    "skus",
    "stock",
    "visibility",
]

#: Constraint names are fixed so migrations on PostgreSQL and SQLite name them alike.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; read back aware in UTC on every database.

    SQLite keeps no time zone, so the value is normalised to UTC on the way in and
    marked UTC on the way out. A naive datetime is refused rather than guessed.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only keeps aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return the stored time as an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_TZ = UtcDateTime()

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(128), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("attributes", JSON, nullable=False, default=dict),
)

# How full PostgreSQL fills the pages of the tables whose rows are rewritten most (a
# SKU's marks, a listing's planned and sent values): the room left lets a new version
# of a row whose indexed columns did not change go on its own page, with no index entry
# written (migration 0020 says what it measured).
UPDATED_FILLFACTOR = 70

skus = Table(
    "skus",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("merchant_code", String(128), nullable=False, unique=True),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=True),
    Column("title", Text, nullable=False),
    Column("price", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cost", Text, nullable=True),
    Column("barcode", String(14), nullable=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("safety_stock", Integer, nullable=False, default=0),
    Column("dirty", Boolean, nullable=False, default=True),
    # Bumped with every mark: a plan clears only the marks it saw, not one made meanwhile.
    Column("change_count", Integer, nullable=False, default=0, server_default="0"),
    Column("low_stock_alerted", Boolean, nullable=False, default=False),
    Column("updated_at", _TZ, nullable=False),
    Index("ix_skus_dirty", "dirty"),
    postgresql_with={"fillfactor": UPDATED_FILLFACTOR},
)

stock = Table(
    "stock",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("warehouse", String(128), primary_key=True),
    Column("on_hand", Integer, nullable=False),
)

ledger_events = Table(
    "ledger_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("warehouse", String(128), nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("channel", String(64), nullable=True),
    Column("order_id", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("at", _TZ, nullable=False),
    # An order's page reads the events the order caused.
    Index("ix_ledger_events_order", "channel", "order_id"),
    # A SKU's recent sales (planning's ranks and pace) and its ledger, without a scan.
    Index("ix_ledger_events_sku_at", "sku_id", "at"),
    # The SKUs a channel's orders reserved lately (whose pace there the planner counts),
    # found when the channel's visibility delay changes: reservations only.
    Index(
        "ix_ledger_events_sold",
        "channel",
        "at",
        sqlite_where=text("reserved_delta > 0"),
        postgresql_where=text("reserved_delta > 0"),
    ),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("order_id", String(128), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("at", _TZ, nullable=False),
    # The warehouse the units are held in ("" when not attributed to one).
    Column("warehouse", String(128), nullable=False, server_default=""),
    UniqueConstraint("channel", "order_id", "sku_id", name="uq_reservations_order_sku"),
    Index("ix_reservations_sku", "sku_id"),
)

#: What a kit (or a multipack: a kit of one component) is made of: selling one takes
#: ``quantity`` units of each component. A kit holds no stock of its own.
kit_components = Table(
    "kit_components",
    metadata,
    Column("kit_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("component_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Index("ix_kit_components_component", "component_id"),
)

bindings = Table(
    "bindings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("item_id", String(128), nullable=False),
    # '' when the listing has no SKU id: NULLs never compare equal in a unique key.
    Column("listing_sku_id", String(128), nullable=False),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=True),
    Column("merchant_code", String(128), nullable=True),
    Column("manual", Boolean, nullable=False, default=False),
    Column("title", Text, nullable=True),
    Column("channel_quantity", Integer, nullable=True),
    Column("planned_quantity", Integer, nullable=True),
    Column("sent_quantity", Integer, nullable=True),
    Column("planned_price", Text, nullable=True),
    Column("sent_price", Text, nullable=True),
    Column("seen_at", _TZ, nullable=True),
    # When the channel accepted ``sent_quantity``: orders created since explain a drop.
    Column("sent_at", _TZ, nullable=True),
    # An unexplained drop first seen at ``held_since`` (the channel then showed
    # ``held_shown``): raises wait until orders explain it or a later look confirms it.
    Column("held_since", _TZ, nullable=True),
    Column("held_shown", Integer, nullable=True),
    UniqueConstraint("channel", "item_id", "listing_sku_id", name="uq_bindings_listing"),
    Index("ix_bindings_sku", "sku_id"),
    # The held listings alone (a few), counted per channel by the console's overview.
    Index(
        "ix_bindings_held",
        "channel",
        sqlite_where=text("held_since IS NOT NULL"),
        postgresql_where=text("held_since IS NOT NULL"),
    ),
    postgresql_with={"fillfactor": UPDATED_FILLFACTOR},
)

cursors = Table(
    "cursors",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("since", _TZ, nullable=False),
    Column("token", Text, nullable=True),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", _TZ, nullable=False),
    Column("reason", Text, nullable=True),
    Column("updated_at", _TZ, nullable=False),
    UniqueConstraint("channel", "kind", "key", name="uq_outbox_target"),
    # The flush reads one kind's most urgent due entries per channel, in this order.
    # Partial: sent entries, most of the table, stay out of both indexes, so a
    # re-queue or a settle writes no index page far from the waiting ones. Queries
    # name the state as a literal (outbox_statements.in_state) to use them.
    Index(
        "ix_outbox_due",
        "channel",
        "kind",
        "urgency",
        "next_attempt_at",
        "id",
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
    Index(
        "ix_outbox_parked",
        "channel",
        "kind",
        sqlite_where=text("state = 'parked'"),
        postgresql_where=text("state = 'parked'"),
    ),
)

orders = Table(
    "orders",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("version", String(64), nullable=False),
    Column("updated_at", _TZ, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("on_hold", Boolean, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("imported_at", _TZ, nullable=False),
    Index("ix_orders_status", "status"),
    Index("ix_orders_updated", "updated_at"),
    # The console's order list: newest placed first.
    Index("ix_orders_created", "created_at"),
)

#: Buyers' personal data of an order (delivery address, buyer's note), kept apart from
#: the order facts so that erasing it is deleting a row and nothing else holds it.
order_personal = Table(
    "order_personal",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("data", JSON, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("previous_status", String(32), nullable=True),
    Column("delivered", Boolean, nullable=False, default=False),
)

shipments = Table(
    "shipments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("channel", String(64), nullable=False),
    Column("order_id", String(128), nullable=False),
    Column("carrier", String(32), nullable=False),
    Column("tracking_number", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("marketplace_ref", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", _TZ, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("sent", JSON, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("answer", Text, nullable=True),
    Index("ix_audit_channel_key", "channel", "key"),
)

parked = Table(
    "parked",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("at", _TZ, nullable=False),
    UniqueConstraint("channel", "kind", "key", name="uq_parked_record"),
)

#: The store lock: at most one row, the lease of the daemon working on this store.
daemon_lock = Table(
    "daemon_lock",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", _TZ, nullable=False),
    Column("expires", _TZ, nullable=False),
)

#: Each channel's measured visibility delay (an order's marketplace time to its
#: import), per way orders are seen: the most recent samples and the figure from them.
visibility = Table(
    "visibility",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("mode", String(16), primary_key=True),
    Column("samples", JSON, nullable=False),
    Column("delay_s", Float, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

#: How full each channel's rate-limit buckets were when last saved, so that the next
#: process does not start with full buckets the marketplace has not refilled.
rate_budgets = Table(
    "rate_budgets",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("operation", String(128), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("saved_at", _TZ, nullable=False),
)

#: Every pushed marketplace event, once per (channel, platform message id): written
#: before it is acknowledged, marked processed once the engine has answered it.
inbox = Table(
    "inbox",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("message_id", String(256), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(256), nullable=False),
    Column("order_id", String(256)),
    Column("topic", String(256), nullable=False),
    Column("received_at", _TZ, nullable=False),
    Column("processed_at", _TZ),
    Column("outcome", String(32)),
    # Units the message says the order takes, by merchant code, held until it is read.
    Column("units", JSON),
    # When the marketplace says the change happened (a read at least as new answers it).
    Column("occurred_at", _TZ),
    Index("ix_inbox_unprocessed", "channel", "processed_at"),
    Index("ix_inbox_open", "processed_at", "kind"),
)

#: Who runs each step group of a channel (``pull``, ``flush``, ``reconcile``) across
#: workers: every job that starts one takes the next epoch, and a job whose epoch is no
#: longer the current one may commit nothing (a worker taken for dead that comes back).
leases = Table(
    "leases",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("step", String(16), primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("holder", String(128), nullable=False),
    Column("taken_at", _TZ, nullable=False),
)

#: A channel's rate limits shared by every worker: one virtual schedule per (channel,
#: operation), the "theoretical arrival time" of the generic cell rate algorithm, in
#: seconds of the database server's clock (one clock for every machine).
rate_slots = Table(
    "rate_slots",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("operation", String(128), primary_key=True),
    Column("tat", Float, nullable=False),
)
