"""Orders and shipments: imported orders, order notifications and confirmed shipments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["PERSONAL_FIELDS", "OrdersSession", "ShipmentRecord", "StoredOrder", "split_personal"]

#: The fields of an order's JSON that hold buyers' personal data. The store keeps them
#: apart from the order facts (a row of their own) and hands them back merged.
PERSONAL_FIELDS = ("shipping_address", "buyer_note")


def split_personal(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an order's JSON into its facts and its personal fields (those that are set).

    The facts keep the JSON's shape: a personal field reads null there.
    """
    facts = dict(raw)
    personal: dict[str, Any] = {}
    for k in PERSONAL_FIELDS:
        if k in facts:
            # Set in place, so the facts keep the JSON's key order.
            value, facts[k] = facts[k], None
            if value is not None:
                personal[k] = value
    return facts, personal


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An imported order: its canonical status and the core model as JSON."""

    channel: str
    order_id: str
    status: str
    version: str
    updated_at: datetime
    created_at: datetime
    on_hold: bool
    raw: Mapping[str, Any]
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    """A shipment the merchant asked for, and how far its push got."""

    id: int
    key: str
    channel: str
    order_id: str
    carrier: str
    tracking_number: str
    payload: Mapping[str, Any]
    state: str
    marketplace_ref: str | None
    reason: str | None


class OrdersSession(ABC):
    """The order and shipment operations of a store transaction."""

    @abstractmethod
    def order(self, channel: str, order_id: str) -> StoredOrder | None:
        """Return one imported order."""

    @abstractmethod
    def save_order(self, order: StoredOrder) -> None:
        """Insert or replace an imported order."""

    @abstractmethod
    def orders(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredOrder]:
        """Return imported orders, newest change first."""

    @abstractmethod
    def add_notification(
        self, channel: str, order_id: str, version: str, previous_status: str | None
    ) -> bool:
        """Record that this order version must be announced; ``False`` if it already was."""

    @abstractmethod
    def pending_notifications(self) -> list[tuple[str, str, str, str | None]]:
        """Return ``(channel, order_id, version, previous_status)`` not yet delivered."""

    @abstractmethod
    def mark_notified(self, channel: str, order_id: str, version: str) -> None:
        """Record that the announcement was delivered."""

    @abstractmethod
    def add_shipment(
        self,
        *,
        key: str,
        channel: str,
        order_id: str,
        carrier: str,
        tracking_number: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        """Record a shipment intent; ``False`` when one with ``key`` exists already."""

    @abstractmethod
    def shipment(self, key: str) -> ShipmentRecord | None:
        """Return one shipment by key."""

    @abstractmethod
    def shipments(self, *, channel: str | None = None) -> list[ShipmentRecord]:
        """Return the shipments (of a channel), oldest first."""

    @abstractmethod
    def set_shipment_state(
        self,
        key: str,
        state: str,
        now: datetime,
        *,
        marketplace_ref: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Move a shipment to ``state``."""

    @abstractmethod
    def orders_by_id(self, channel: str, order_ids: Iterable[str]) -> dict[str, StoredOrder]:
        """Return the imported orders of ``channel`` with these ids."""

    @abstractmethod
    def save_orders(self, orders: Sequence[StoredOrder]) -> None:
        """Insert or replace many imported orders."""

    @abstractmethod
    def mark_notified_many(self, notifications: Iterable[tuple[str, str, str]]) -> None:
        """Record that the ``(channel, order_id, version)`` announcements were delivered."""

    @abstractmethod
    def add_notifications(self, notifications: Sequence[tuple[str, str, str, str | None]]) -> int:
        """Record ``(channel, order_id, version, previous_status)`` announcements.

        Those recorded before are left as they are; returns how many were new.
        """

    @abstractmethod
    def count_orders_created(self, channel: str, start: datetime, end: datetime) -> int:
        """Return how many of ``channel``'s imported orders were created in ``[start, end)``."""

    @abstractmethod
    def erase_personal_data(
        self,
        statuses: Iterable[str],
        updated_before: datetime,
        *,
        updated_since: datetime | None = None,
    ) -> int:
        """Delete the personal data of orders in ``statuses`` last changed before a moment.

        ``updated_since`` limits it to orders changed since (an earlier run's cut-off).

        For buyers' personal data (:data:`PERSONAL_FIELDS`: the delivery address with
        name and phone, the buyer's note): kept only while a shipment needs it. Returns
        how many orders held any of it; the order facts (lines, amounts, statuses) stay.
        """
