"""The stock ledger: idempotent stock events, reservations and positions per SKU."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AppliedUnderLock", "LedgerEvent", "LedgerSession", "StockPosition", "WarehouseStock"]


@dataclass(frozen=True, slots=True)
class StockPosition:
    """A SKU's stock: on hand across warehouses, reserved by open orders, safety stock."""

    sku_id: int
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        """On hand minus reserved minus safety stock (negative when oversold)."""
        return self.on_hand - self.reserved - self.safety_stock


@dataclass(frozen=True, slots=True)
class AppliedUnderLock:
    """Event keys found applied by a read made while the transaction held some SKUs' locks.

    What a caller that locked the SKUs (:meth:`LedgerSession.lock_skus`) and then read
    the keys (``applied_events``) knows, given to :meth:`LedgerSession.apply_events` so
    that it need not read them again: no other writer can apply an event of a SKU
    while the lock is held.
    """

    sku_ids: frozenset[int]
    """The SKUs whose locks the transaction held when the keys were read."""
    keys: frozenset[str]
    """The keys (of those SKUs' events at least) applied at the time of the read."""


@dataclass(frozen=True, slots=True)
class WarehouseStock:
    """A SKU's stock in one warehouse: on hand there, and reserved there by open orders."""

    on_hand: int
    reserved: int

    @property
    def free(self) -> int:
        """The units neither reserved nor shipped (negative when more is reserved)."""
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One stock event; ``idempotency_key`` makes applying it twice a no-op.

    ``on_hand_delta`` changes the warehouse's on-hand count; ``reserved_delta``
    changes the reservation held by ``(channel, order_id)`` for the SKU. The event that
    creates a reservation says the warehouse it is held in; later events never move it.
    """

    idempotency_key: str
    kind: str
    sku_id: int
    on_hand_delta: int = 0
    reserved_delta: int = 0
    warehouse: str = ""
    channel: str | None = None
    order_id: str | None = None
    note: str | None = None


class LedgerSession(ABC):
    """The stock ledger operations of a store transaction."""

    @abstractmethod
    def apply_event(self, event: LedgerEvent, now: datetime) -> bool:
        """Record and apply ``event``; return ``False`` (changing nothing) if already applied."""

    @abstractmethod
    def has_event(self, idempotency_key: str) -> bool:
        """Return whether the event with this key has been applied."""

    @abstractmethod
    def set_safety_stock(self, sku_id: int, quantity: int) -> None:
        """Set the units of a SKU held back from every channel (and mark it changed)."""

    @abstractmethod
    def reservation(self, channel: str, order_id: str, sku_id: int) -> int:
        """Return the units an order still holds reserved of a SKU."""

    @abstractmethod
    def on_hand(self, sku_id: int) -> dict[str, int]:
        """Return on-hand stock of a SKU per warehouse (``""`` is the default warehouse)."""

    @abstractmethod
    def positions(self, sku_ids: Iterable[int]) -> dict[int, StockPosition]:
        """Return the stock position of each SKU."""

    @abstractmethod
    def recent_sales(self, sku_ids: Iterable[int], since: datetime) -> dict[tuple[int, str], int]:
        """Return units reserved per ``(sku_id, channel)`` by orders since ``since``."""

    def sales_since(
        self, sku_ids: Iterable[int], since: Sequence[datetime]
    ) -> list[dict[tuple[int, str], int]]:
        """Return :meth:`recent_sales` for each time of ``since``, in its order.

        A store may answer all of them in one read (the planner asks for its sales
        window and its pace windows at once); this default reads each in turn.
        """
        ids = list(sku_ids)
        return [self.recent_sales(ids, at) for at in since]

    def skus_sold_on(
        self, channels: Iterable[str], since: datetime, until: datetime | None = None
    ) -> set[int]:
        """Return the ids of the SKUs that orders of ``channels`` reserved units of since ``since``.

        ``until`` (excluded) ends the span; ``None``: up to now. The SKUs whose pace on
        those channels the planner counts (see :mod:`channelsync.engine.pace_change`),
        or whose sales left the sales window (:mod:`channelsync.engine.sales_window`).
        This default reads the ledger, whose events carry no time here: it answers every
        SKU those channels ever reserved (more SKUs planned again, none missed); a store
        answers from an index.
        """
        wanted = set(channels)
        return {
            event.sku_id
            for event in self.ledger()
            if event.channel in wanted and event.reserved_delta > 0
        }

    @abstractmethod
    def ledger(self, sku_id: int | None = None) -> list[LedgerEvent]:
        """Return the ledger events (of one SKU), oldest first."""

    @abstractmethod
    def changed_skus(self, limit: int | None = None) -> list[int]:
        """Return the ids of SKUs changed since their allocation was last computed."""

    @abstractmethod
    def change_counts(self, sku_ids: Iterable[int]) -> dict[int, int]:
        """Return how often each SKU was marked changed so far (see :meth:`clear_changed`)."""

    @abstractmethod
    def clear_changed(self, sku_ids: Iterable[int], seen: Mapping[int, int] | None = None) -> None:
        """Mark these SKUs' allocations as computed.

        With ``seen`` (the :meth:`change_counts` read before the plan), a SKU marked
        since is left marked, and marked again if that writer has cleared it already
        (it planned the SKU itself): its change was not in this plan, whose values for
        it were read before that change.
        """

    @abstractmethod
    def mark_changed(self, sku_ids: Iterable[int]) -> None:
        """Mark these SKUs for recomputation (e.g. newly bound)."""

    @abstractmethod
    def mark_all_changed(self) -> None:
        """Mark every SKU for recomputation (after a settings change)."""

    @abstractmethod
    def on_hand_many(self, sku_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Return on-hand stock per warehouse of each SKU that has any."""

    @abstractmethod
    def apply_events(
        self,
        events: Sequence[LedgerEvent],
        now: datetime,
        *,
        known: AppliedUnderLock | None = None,
    ) -> list[bool]:
        """Record and apply ``events`` in order; return, per event, whether it was new.

        An event whose key was applied before (or appears earlier in ``events``)
        changes nothing. Raises ``ValueError`` when a release would take a reservation
        below zero; the caller's transaction then rolls the whole batch back.

        Concurrent calls are safe: the SKUs changed are locked (:meth:`lock_skus`) before
        the keys and reservations are read, and a key another transaction records at
        the same moment counts as applied before (``False``), never as an error.
        With ``known`` (the caller locked the SKUs and read the keys in this
        transaction), events of those SKUs are decided on it, without a read or a lock.
        """

    @abstractmethod
    def lock_skus(self, sku_ids: Iterable[int]) -> None:
        """Hold these SKUs for this transaction's stock and allocation changes.

        Until the transaction ends, no other transaction changes their stock,
        reservations or marks, and the reads that follow see every change committed
        before the lock: a read-then-write on them (positions, then a plan; reservations,
        then a release) cannot be overtaken. Locks are taken in ascending id order, so
        lock every SKU a transaction will touch in one call, before reading them.
        :meth:`apply_events` locks the SKUs it changes itself.
        """

    @abstractmethod
    def applied_events(self, idempotency_keys: Iterable[str]) -> set[str]:
        """Return which of these event keys have been applied."""

    @abstractmethod
    def reservations(self, channel: str, order_ids: Iterable[str]) -> dict[tuple[str, int], int]:
        """Return units still reserved per ``(order_id, sku_id)`` for these orders."""

    @abstractmethod
    def reservation_warehouses(
        self, channel: str, order_ids: Iterable[str]
    ) -> dict[tuple[str, int], str]:
        """Return the warehouse each reservation of these orders is held in.

        Keyed like :meth:`reservations`, by ``(order_id, sku_id)``; ``""`` for a
        reservation attributed to no warehouse (every one made before warehouses were
        tracked).
        """

    @abstractmethod
    def warehouse_stock(self, sku_ids: Iterable[int]) -> dict[int, dict[str, WarehouseStock]]:
        """Return each SKU's on-hand and reserved units per warehouse.

        A warehouse holding only reservations (``""`` for those attributed to none)
        appears with nothing on hand; a SKU with neither stock nor reservations is absent.
        """

    @abstractmethod
    def warehouses(self) -> list[str]:
        """Return every warehouse stock is kept in (``""`` is the default one), by name."""
