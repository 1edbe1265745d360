"""Durable state: the catalogue, stock ledger, bindings, outbox, orders and audit trail.

Open a store with :func:`open_store` (a SQLAlchemy URL; SQLite by default) and do all
work inside ``with store.transaction() as session:``. A store may hold many merchants'
workspaces, each apart from the others (:mod:`channelsync.store.sql.workspaces`); a
store one merchant uses is the workspace ``default`` and needs no name.
"""

from __future__ import annotations

from channelsync.config import StoreConfig
from channelsync.store.base import (
    AppliedUnderLock,
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
from channelsync.store.sql.errors import StoreUnavailableError
from channelsync.store.sql.workspaces import WorkspaceFigures, list_workspaces, workspace_figures

__all__ = [
    "AppliedUnderLock",
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
    "StoreUnavailableError",
    "StoredOrder",
    "VisibilityFigure",
    "WarehouseStock",
    "WorkspaceFigures",
    "list_workspaces",
    "lock_holder",
    "migrate",
    "open_store",
    "workspace_figures",
]


def open_store(
    where: str | StoreConfig, *, workspace: str | None = None, create: bool = False
) -> Store:
    """Open (creating and migrating as needed) the store at a URL or a ``[store]`` config.

    The workspace opened is ``workspace``, else the config's ``[store] workspace``, else
    the store's only one (``default`` while it has none). A named workspace that does
    not exist is created only with ``create``; otherwise it is refused with
    :class:`~channelsync.errors.ConfigurationError` naming the ones there are.
    """
    if isinstance(where, StoreConfig):
        return SqlStore(where.url, workspace=workspace or where.workspace, create=create)
    return SqlStore(where, workspace=workspace, create=create)
