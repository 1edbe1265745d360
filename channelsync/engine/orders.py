"""Order ingestion: pull each channel from its stored cursor and apply what changed.

Each pull reads one window after the cursor (with the overlap the channel declares)
and is repeated until the channel has caught up. Orders are deduped by (channel,
order id): an order already stored with the same or a newer version is skipped.
Every order is applied in its own transaction together with its stock events and
the outbox entries they cause; one that cannot be applied is parked with its reason
and never blocks the rest. The cursor is stored after its window's orders are
applied, so a crash re-reads the window and the dedupe makes that harmless.

Stock effects per status: paid (or partially shipped) reserves; cancelled or refunded
before shipping releases; shipped or completed consumes on-hand stock and releases
the reservation. The order-imported hook is called once per order and status change:
the announcement is recorded in the order's transaction and marked delivered after
the hook returns.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channelsync.channels import OrdersCapability, PullCursor
from channelsync.engine.context import EngineContext
from channelsync.engine.ledger import release_event, reserve_event, ship_events
from channelsync.engine.planner import PlanReport, plan_changes
from channelsync.models import Order, OrderStatus
from channelsync.store import ParkedRecord, StoredOrder, StoreSession

__all__ = ["IngestReport", "apply_order", "deliver_notifications", "ingest_orders"]

logger = logging.getLogger(__name__)

CURSOR_KIND = "orders"
_MAX_WINDOWS = 10_000
_CONSUMED = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})
_RELEASED = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})
_RESERVED = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED})


@dataclass
class IngestReport:
    """What one ingestion of one channel did."""

    channel: str
    imported: int = 0
    skipped: int = 0
    parked: int = 0
    windows: int = 0
    unbound_lines: list[str] = field(default_factory=list)
    plan: PlanReport = field(default_factory=PlanReport)


async def ingest_orders(context: EngineContext, channel: OrdersCapability) -> IngestReport:
    """Pull ``channel`` from its stored cursor until caught up, applying every order."""
    name = channel.name  # type: ignore[attr-defined]
    report = IngestReport(channel=name)
    with context.store.transaction() as session:
        stored = session.cursor(name, CURSOR_KIND)
    if stored is None:
        start = context.clock.now() - timedelta(hours=context.config.order_lookback_hours)
        cursor = PullCursor.starting_at(start)
    else:
        cursor = PullCursor(since=stored[0], token=stored[1])
    for _ in range(_MAX_WINDOWS):
        pull = await channel.pull_orders(cursor)
        report.windows += 1
        for order in pull.orders:
            _apply_one(context, name, order, report)
        with context.store.transaction() as session:
            session.set_cursor(name, CURSOR_KIND, pull.cursor.since, pull.cursor.token)
        cursor = pull.cursor
        if pull.caught_up:
            break
    await deliver_notifications(context)
    return report


def _apply_one(context: EngineContext, channel: str, order: Order, report: IngestReport) -> None:
    try:
        with context.store.transaction() as session:
            applied = apply_order(session, context, order, report)
            if applied:
                session.unpark(channel, "order", order.order_id)
    except Exception as error:  # noqa: BLE001 - one bad order must never stop the rest
        logger.warning("order %s/%s parked: %s", channel, order.order_id, error)
        with context.store.transaction() as session:
            session.park(
                ParkedRecord(
                    channel=channel,
                    kind="order",
                    key=order.order_id,
                    reason=f"{type(error).__name__}: {error}",
                    payload=order.model_dump(mode="json"),
                ),
                context.clock.now(),
            )
        report.parked += 1
        return
    if applied:
        report.imported += 1
    else:
        report.skipped += 1


def apply_order(
    session: StoreSession, context: EngineContext, order: Order, report: IngestReport
) -> bool:
    """Apply one order in the caller's transaction; ``False`` if it was seen already."""
    stored = session.order(order.channel, order.order_id)
    if stored is not None and (
        stored.version == order.version or stored.updated_at > order.updated_at
    ):
        return False
    quantities: dict[int, int] = defaultdict(int)
    for line in order.lines:
        sku_id = _resolve(session, order.channel, line.item_id, line.sku_id, line.merchant_code)
        if sku_id is None:
            report.unbound_lines.append(
                f"{order.channel}/{order.order_id}: {line.merchant_code or line.item_id}"
            )
            continue
        quantities[sku_id] += line.quantity
    for sku_id, quantity in quantities.items():
        for event in _events(session, order, sku_id, quantity):
            session.apply_event(event, context.clock.now())
    previous = None if stored is None else stored.status
    session.save_order(
        StoredOrder(
            channel=order.channel,
            order_id=order.order_id,
            status=order.status.value,
            version=order.version,
            updated_at=order.updated_at,
            created_at=order.created_at,
            on_hold=order.on_hold,
            raw=order.model_dump(mode="json"),
            imported_at=context.clock.now(),
        )
    )
    if previous != order.status.value:
        session.add_notification(order.channel, order.order_id, order.version, previous)
    if quantities:
        # The stock change reaches every channel's outbox in this same transaction.
        report.plan.add(plan_changes(session, context, quantities.keys()))
    return True


def _resolve(
    session: StoreSession,
    channel: str,
    item_id: str,
    listing_sku_id: str | None,
    merchant_code: str | None,
) -> int | None:
    binding = session.binding_for_listing(channel, item_id, listing_sku_id)
    if binding is not None and binding.sku_id is not None:
        return binding.sku_id
    if merchant_code:
        found = session.skus([merchant_code])
        if found:
            return found[0].id
    return None


def _events(session: StoreSession, order: Order, sku_id: int, quantity: int) -> list[Any]:
    channel, order_id = order.channel, order.order_id
    shipped = session.has_event(f"ship:{channel}:{order_id}:{sku_id}")
    if order.status in _RESERVED:
        return [reserve_event(channel, order_id, sku_id, quantity)]
    if order.status in _CONSUMED and not shipped:
        held = session.reservation(channel, order_id, sku_id)
        return ship_events(session, channel, order_id, sku_id, quantity=quantity, reserved=held)
    if order.status in _RELEASED and not shipped:
        held = session.reservation(channel, order_id, sku_id)
        return [release_event(channel, order_id, sku_id, held)] if held else []
    return []


async def deliver_notifications(context: EngineContext) -> int:
    """Call the order-imported hook for every recorded, undelivered status change."""
    with context.store.transaction() as session:
        pending = session.pending_notifications()
    delivered = 0
    for channel, order_id, version, previous in pending:
        with context.store.transaction() as session:
            stored = session.order(channel, order_id)
        if stored is None:
            continue
        order = Order.model_validate(stored.raw)
        if context.host is not None and order.version == version:
            await context.host.order_imported(
                order, None if previous is None else OrderStatus(previous)
            )
        with context.store.transaction() as session:
            session.mark_notified(channel, order_id, version)
        delivered += 1
    return delivered
