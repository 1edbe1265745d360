"""The state store's interface: what the engine may ask of durable state.

The engine talks only to :class:`Store` and :class:`StoreSession`; the SQLAlchemy
implementation (:mod:`channelsync.store.sql`) serves SQLite and PostgreSQL alike. Every
change the engine makes happens inside :meth:`Store.transaction`: all of it is
committed together or none of it is, which is what lets an outbox entry be written
in the same transaction as the state change that caused it.

A session's operations are split by aggregate, each with its records in a module of
its own: :mod:`~channelsync.store.catalogue`, :mod:`~channelsync.store.ledger`,
:mod:`~channelsync.store.bindings`, :mod:`~channelsync.store.outbox`,
:mod:`~channelsync.store.orders`, :mod:`~channelsync.store.journal`,
:mod:`~channelsync.store.visibility`, :mod:`~channelsync.store.inbox`,
:mod:`~channelsync.store.budgets` and, for views,
:mod:`~channelsync.store.summary`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from channelsync.store.bindings import BindingRecord, BindingsSession, ListingBinding
from channelsync.store.budgets import BudgetsSession
from channelsync.store.catalogue import CatalogueSession, KitComponent, SkuData, SkuRecord
from channelsync.store.inbox import InboxEvent, InboxSession
from channelsync.store.journal import AuditEntry, JournalSession
from channelsync.store.ledger import (
    AppliedUnderLock,
    LedgerEvent,
    LedgerSession,
    StockPosition,
    WarehouseStock,
)
from channelsync.store.orders import OrdersSession, ShipmentRecord, StoredOrder
from channelsync.store.outbox import (
    OutboxEntry,
    OutboxItem,
    OutboxSession,
    OutboxState,
    ParkedRecord,
    Settlement,
)
from channelsync.store.summary import ChannelCounts, SummarySession
from channelsync.store.visibility import VisibilityFigure, VisibilitySession

__all__ = [
    "AppliedUnderLock",
    "AuditEntry",
    "BindingRecord",
    "ChannelCounts",
    "InboxEvent",
    "KitComponent",
    "LedgerEvent",
    "ListingBinding",
    "OutboxEntry",
    "OutboxItem",
    "OutboxState",
    "ParkedRecord",
    "Settlement",
    "ShipmentRecord",
    "SkuData",
    "SkuRecord",
    "StockPosition",
    "Store",
    "StoreSession",
    "StoredOrder",
    "VisibilityFigure",
    "WarehouseStock",
]


class StoreSession(
    CatalogueSession,
    LedgerSession,
    BindingsSession,
    OutboxSession,
    OrdersSession,
    JournalSession,
    VisibilitySession,
    InboxSession,
    SummarySession,
    BudgetsSession,
    ABC,
):
    """The operations available inside one transaction, every aggregate's together."""


class Store(ABC):
    """Durable state behind one small interface."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open a transaction; it commits when the block ends and rolls back on an error."""

    @abstractmethod
    def preview(self) -> AbstractContextManager[StoreSession]:
        """Open a transaction that is always rolled back (to show what a change would do)."""

    @abstractmethod
    def close(self) -> None:
        """Release the database connections."""

    @property
    def concurrent_writers(self) -> bool:
        """Whether transactions from several threads run side by side (PostgreSQL).

        ``False`` (the default): they queue for one writer (SQLite), so a thread would
        only add its switching to the process's own CPU work.
        """
        return False

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
