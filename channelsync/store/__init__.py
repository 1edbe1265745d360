"""Durable state: the catalogue, stock ledger, bindings, outbox, orders and audit trail.

Open a store with :func:`open_store` (a SQLAlchemy URL; SQLite by default) and do all
work inside ``with store.transaction() as session:``.
"""

from __future__ import annotations

from channelsync.config import StoreConfig
from channelsync.store.base import (
    AuditEntry,
    BindingRecord,
    ChannelCounts,
    InboxEvent,
    KitComponent,
    LedgerEvent,
    ListingBinding,
    OutboxEntry,
    OutboxItem,
    OutboxState,
    ParkedRecord,
    Settlement,
    ShipmentRecord,
    SkuData,
    SkuRecord,
    StockPosition,
    Store,
    StoredOrder,
    StoreSession,
    VisibilityFigure,
    WarehouseStock,
)
from channelsync.store.lock import LockHolder, StoreLease, StoreLockedError, lock_holder
from channelsync.store.sql import SqlStore, migrate

__all__ = [
    "AuditEntry",
    "BindingRecord",
    "ChannelCounts",
    "InboxEvent",
    "KitComponent",
    "LedgerEvent",
    "ListingBinding",
    "LockHolder",
    "OutboxEntry",
    "OutboxItem",
    "OutboxState",
    "ParkedRecord",
    "Settlement",
    "ShipmentRecord",
    "SkuData",
    "SkuRecord",
    "SqlStore",
    "StockPosition",
    "Store",
    "StoreLease",
    "StoreLockedError",
    "StoreSession",
    "StoredOrder",
    "VisibilityFigure",
    "WarehouseStock",
    "lock_holder",
    "migrate",
    "open_store",
]


def open_store(where: str | StoreConfig) -> Store:
    """Open (creating and migrating as needed) the store at a URL or a ``[store]`` config."""
    url = where.url if isinstance(where, StoreConfig) else where
    return SqlStore(url)
