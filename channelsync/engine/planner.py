"""Turn stock and catalogue changes into outbox entries for every channel.

For each changed SKU the planner computes what each bound channel should show (the
allocation) and charge (the price rules), compares that with what was last queued
for the listing, and queues only the differences. It runs inside the caller's
transaction, so the outbox entries commit together with the change that caused them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channelsync.engine.allocation import Allocation, ChannelShare, allocate
from channelsync.engine.context import EngineContext
from channelsync.engine.outbox import Kind, stock_urgency
from channelsync.engine.pricing import channel_price
from channelsync.models import ListingStatus
from channelsync.plugins import LowStockAlert
from channelsync.store import BindingRecord, SkuRecord, StoreSession

__all__ = ["PlanReport", "plan_changes"]


@dataclass
class PlanReport:
    """What one planning pass queued."""

    skus: int = 0
    queued: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    overcommitted: list[str] = field(default_factory=list)
    """SKUs whose sum shown exceeds available because of a ``minimum`` setting."""
    alerts: list[LowStockAlert] = field(default_factory=list)
    oversold: dict[str, int] = field(default_factory=dict)
    """SKUs with more units sold than exist (available below zero), and by how many."""

    def add(self, other: PlanReport) -> None:
        """Add ``other``'s findings to this report."""
        self.skus += other.skus
        for channel, count in other.queued.items():
            self.queued[channel] += count
        self.overcommitted += other.overcommitted
        self.alerts += other.alerts
        self.oversold.update(other.oversold)


def plan_changes(
    session: StoreSession, context: EngineContext, sku_ids: Iterable[int] | None = None
) -> PlanReport:
    """Queue what changed for ``sku_ids`` (default: every SKU marked changed)."""
    ids = list(session.changed_skus() if sku_ids is None else sku_ids)
    report = PlanReport(skus=len(ids))
    if not ids:
        return report
    now = context.clock.now()
    skus = session.skus_by_id(ids)
    positions = session.positions(ids)
    sales = session.recent_sales(ids, now - timedelta(days=context.config.sales_window_days))
    by_sku: dict[int, list[BindingRecord]] = defaultdict(list)
    for binding in session.bindings(sku_ids=ids):
        if binding.channel in context.channels and binding.sku_id is not None:
            by_sku[binding.sku_id].append(binding)
    for sku_id in ids:
        sku = skus.get(sku_id)
        if sku is None:
            continue
        available = positions[sku_id].available
        if available < 0:
            report.oversold[sku.merchant_code] = -available
        bindings = by_sku.get(sku_id, [])
        selling = sorted({b.channel for b in bindings})
        allocation = allocate(
            available,
            [
                ChannelShare(name, context.channels[name].settings, sales.get((sku_id, name), 0))
                for name in selling
                if context.channels[name].pushes_stock
            ],
            strict=context.config.strict,
            threshold=context.config.scarce_threshold,
        )
        if allocation.overcommitted:
            report.overcommitted.append(sku.merchant_code)
        _check_low_stock(session, context, sku, allocation, report)
        for binding in bindings:
            _plan_listing(
                session, context, binding=binding, sku=sku, allocation=allocation, report=report
            )
    session.clear_changed(ids)
    return report


def _plan_listing(
    session: StoreSession,
    context: EngineContext,
    *,
    binding: BindingRecord,
    sku: SkuRecord,
    allocation: Allocation,
    report: PlanReport,
) -> None:
    info = context.channels[binding.channel]
    now = context.clock.now()
    address = {
        "binding_id": binding.id,
        "item_id": binding.item_id,
        "sku_id": binding.listing_sku_id,
        "merchant_code": sku.merchant_code,
    }
    key = f"{binding.item_id}/{binding.listing_sku_id or ''}"
    if info.pushes_stock and binding.channel in allocation.shown:
        quantity = allocation.shown[binding.channel]
        if quantity != binding.planned_quantity:
            previous = binding.sent_quantity
            session.enqueue(
                channel=binding.channel,
                kind=Kind.STOCK,
                key=key,
                payload={**address, "quantity": quantity, "previous": previous},
                urgency=stock_urgency(quantity, previous),
                now=now,
            )
            session.set_planned(binding.id, quantity=quantity)
            report.queued[binding.channel] += 1
            if info.listings and info.settings.auto_delist:
                _plan_status(
                    session,
                    binding=binding,
                    address=address,
                    key=key,
                    quantity=quantity,
                    previous=previous,
                    now=now,
                )
    if info.pricing:
        price = channel_price(
            sku,
            info.settings,
            channel=info.name,
            channel_type=info.type_name,
            now=now,
            host=context.host,
        )
        text = format(price.amount, "f")
        if text != binding.planned_price:
            session.enqueue(
                channel=binding.channel,
                kind=Kind.PRICE,
                key=key,
                payload={**address, "amount": text, "currency": price.currency},
                urgency=0,
                now=now,
            )
            session.set_planned(binding.id, price=text)
            report.queued[binding.channel] += 1


def _plan_status(
    session: StoreSession,
    *,
    binding: BindingRecord,
    address: dict[str, object],
    key: str,
    quantity: int,
    previous: int | None,
    now: datetime,
) -> None:
    if quantity == 0:
        status = ListingStatus.DELISTED
    elif previous == 0 or previous is None:
        status = ListingStatus.ON_SALE
    else:
        return
    session.enqueue(
        channel=binding.channel,
        kind=Kind.LISTING,
        key=key,
        payload={**address, "status": status.value},
        urgency=0,
        now=now,
    )


def _check_low_stock(
    session: StoreSession,
    context: EngineContext,
    sku: SkuRecord,
    allocation: Allocation,
    report: PlanReport,
) -> None:
    threshold = context.config.low_stock_threshold
    if threshold is None:
        threshold = allocation.threshold
    below = allocation.available < threshold
    if below and not sku.low_stock_alerted:
        session.set_low_stock_alerted(sku.id, True)
        report.alerts.append(
            LowStockAlert(
                merchant_code=sku.merchant_code,
                available=allocation.available,
                threshold=threshold,
                at=context.clock.now(),
            )
        )
    elif not below and sku.low_stock_alerted:
        session.set_low_stock_alerted(sku.id, False)
