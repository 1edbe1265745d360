"""What each listing of a planned SKU is sent: its stock, its price and its listing status.

The planner decides a SKU's allocation; a :class:`SlicePlan` compares what each of the
SKU's listings should show and charge with what was last queued for it, queues the
differences, and writes them in bulk at the end of the slice. What a channel's
settings decide for every listing (whether it is sent stock, prices, statuses; its
share of a SKU that sold nothing lately) is read once per slice, not per listing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from channelsync.config import ChannelSyncSettings
from channelsync.engine.allocation import Allocation, ChannelShare
from channelsync.engine.context import ChannelInfo, EngineContext
from channelsync.engine.guard import PREVIOUS
from channelsync.engine.outbox import Kind, stock_urgency
from channelsync.engine.pricing import (
    CurrencyMismatch,
    CurrencyNote,
    PricePlans,
    check_currency,
    record_currency,
)
from channelsync.models import ListingStatus
from channelsync.store import BindingRecord, OutboxEntry, SkuRecord, StoreSession

__all__ = ["ChannelPlan", "SlicePlan"]

_channel_of = attrgetter("channel")
_STOCK = Kind.STOCK
_PRICE = Kind.PRICE
_LISTING = Kind.LISTING


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """A channel as a slice's listings are planned for it, its settings read once."""

    name: str
    type_name: str
    settings: ChannelSyncSettings
    stock: bool
    """Whether its listings are sent stock (it can take it, and the stock is ours)."""
    statuses: bool
    """Whether a stock change may list or delist a listing (``auto_delist``)."""
    item_wide: bool
    pricing: bool
    notes_currency: bool
    """Whether its price rule names a currency: every price outcome is then noted."""
    share: ChannelShare
    """Its share of a SKU with no recent sales on it."""

    @classmethod
    def of(cls, channel: str, info: ChannelInfo) -> ChannelPlan:
        """Read what ``info`` decides for every listing of ``channel``."""
        settings = info.settings
        return cls(
            name=info.name,
            type_name=info.type_name,
            settings=settings,
            stock=info.pushes_stock,
            statuses=info.listings and settings.auto_delist,
            item_wide=info.item_wide_status,
            pricing=info.pricing,
            notes_currency=settings.price.currency is not None,
            share=ChannelShare(channel, settings, 0),
        )


@dataclass(frozen=True, slots=True)
class _StatusChange:
    """A listing's planned quantity change, which may list or delist it."""

    binding: BindingRecord
    address: dict[str, object]
    key: str
    quantity: int
    previous: int | None


class SlicePlan:
    """What one slice of the planning pass queues, written in bulk at its end."""

    def __init__(
        self, context: EngineContext, queued: MutableMapping[str, int], now: datetime
    ) -> None:
        self.channels = {name: ChannelPlan.of(name, i) for name, i in context.channels.items()}
        self.entries: list[OutboxEntry] = []
        self.quantities: dict[int, int] = {}
        self.prices: dict[int, str] = {}
        self.currency: list[CurrencyNote] = []
        self.item_statuses: list[_StatusChange] = []
        """Stock changes of listings whose status is the whole item's: decided per item."""
        self._queued = queued
        self._now = now
        self._price_plans = PricePlans(context.host)
        self._selling: dict[tuple[str, ...], tuple[ChannelShare, ...]] = {}

    def selling(self, bindings: Sequence[BindingRecord]) -> tuple[ChannelShare, ...]:
        """Return the shares of the channels selling a SKU, by name, with no sales counted.

        Only channels that are sent stock take part. SKUs bound to the same channels get
        the same tuple (so its identity says which channels they are, for the slice).
        """
        names = tuple(map(_channel_of, bindings))
        found = self._selling.get(names)
        if found is None:
            channels = self.channels
            found = self._selling[names] = tuple(
                channels[name].share for name in sorted(set(names)) if channels[name].stock
            )
        return found

    @staticmethod
    def with_sales(selling: Sequence[ChannelShare], sold: Mapping[str, int]) -> list[ChannelShare]:
        """Return ``selling`` with each channel's recent sales of the SKU (``sold``) counted."""
        return [
            share
            if (units := sold.get(share.channel, 0)) == 0
            else ChannelShare(share.channel, share.settings, units)
            for share in selling
        ]

    def listing(self, binding: BindingRecord, sku: SkuRecord, allocation: Allocation) -> None:
        """Queue what ``binding``'s listing should show and charge, where that changed."""
        channel = binding.channel
        plan = self.channels[channel]
        key = f"{binding.item_id}/{binding.listing_sku_id or ''}"
        if plan.stock:
            quantity = allocation.shown.get(channel)
            if quantity is not None and quantity != binding.planned_quantity:
                previous = binding.sent_quantity
                payload: dict[str, object] = {
                    "binding_id": binding.id,
                    "item_id": binding.item_id,
                    "sku_id": binding.listing_sku_id,
                    "merchant_code": sku.merchant_code,
                    "quantity": quantity,
                    PREVIOUS: previous,
                }
                urgency = stock_urgency(quantity, previous)
                self.entries.append(OutboxEntry(channel, _STOCK, key, payload, urgency))
                self.quantities[binding.id] = quantity
                self._queued[channel] += 1
                if plan.statuses:
                    change = _StatusChange(binding, _address(binding, sku), key, quantity, previous)
                    if plan.item_wide:
                        self.item_statuses.append(change)
                    else:
                        self._status(change)
        if plan.pricing:
            quoted = self._price_plans.quote(
                sku, plan.settings, channel=plan.name, channel_type=plan.type_name, now=self._now
            )
            if plan.notes_currency:
                price = quoted if isinstance(quoted, CurrencyMismatch) else quoted[0]
                check_currency(self.currency, plan.settings, channel=channel, key=key, price=price)
            if isinstance(quoted, CurrencyMismatch):
                return  # parked as a currency mismatch: nothing to send
            money, text = quoted
            if text != binding.planned_price:
                payload = _address(binding, sku)
                payload["amount"] = text
                payload["currency"] = money.currency
                self.entries.append(OutboxEntry(channel, _PRICE, key, payload, 0))
                self.prices[binding.id] = text
                self._queued[channel] += 1

    def write(self, session: StoreSession, now: datetime) -> None:
        """Decide the item-wide statuses, then write everything queued (a few bulk writes)."""
        self._item_statuses(session)
        session.enqueue_many(self.entries, now)
        session.set_planned_many(quantities=self.quantities, prices=self.prices)
        record_currency(session, self.currency, now)

    def _status(self, change: _StatusChange, *, siblings_at_zero: bool = True) -> None:
        """Delist a listing planned at zero, relist one planned above zero again.

        ``siblings_at_zero`` says whether every other SKU of the item is at zero too; where
        a delist takes the whole item off sale, a SKU at zero beside siblings with stock
        stays listed at quantity zero instead, so the siblings remain buyable.
        """
        binding = change.binding
        if change.quantity == 0:
            if not siblings_at_zero:
                return
            status = ListingStatus.DELISTED
        elif change.previous == 0 or change.previous is None or binding.planned_quantity == 0:
            # A delist queued but not sent yet is replaced (the entries coalesce).
            status = ListingStatus.ON_SALE
        else:
            return
        payload = {**change.address, "status": status.value}
        self.entries.append(OutboxEntry(binding.channel, _LISTING, change.key, payload, 0))

    def _item_statuses(self, session: StoreSession) -> None:
        """Decide the status changes of item-wide channels with every SKU of each item in view."""
        by_channel: dict[str, set[str]] = defaultdict(set)
        for change in self.item_statuses:
            by_channel[change.binding.channel].add(change.binding.item_id)
        shown: dict[tuple[str, str], list[int | None]] = defaultdict(list)
        for channel, item_ids in by_channel.items():
            for sibling in session.bindings_of_items(channel, item_ids):
                # What it will show: planned now, else last planned, sent, or last read
                # (a sibling the catalogue does not manage shows what the marketplace has).
                quantity = next(
                    (
                        q
                        for q in (
                            self.quantities.get(sibling.id),
                            sibling.planned_quantity,
                            sibling.sent_quantity,
                            sibling.channel_quantity,
                        )
                        if q is not None
                    ),
                    None,
                )
                shown[(channel, sibling.item_id)].append(quantity)
        for change in self.item_statuses:
            # A SKU whose quantity is unknown counts as having stock: hiding a buyable
            # sibling is the harm to avoid; a later plan delists once it is known.
            quantities = shown[(change.binding.channel, change.binding.item_id)]
            self._status(change, siblings_at_zero=all(q == 0 for q in quantities))


def _address(binding: BindingRecord, sku: SkuRecord) -> dict[str, object]:
    """Return the keys every entry of a listing carries."""
    return {
        "binding_id": binding.id,
        "item_id": binding.item_id,
        "sku_id": binding.listing_sku_id,
        "merchant_code": sku.merchant_code,
    }
