"""Refunds and returns: pull each channel's refunds and apply what they mean for stock.

Refunds are pulled like orders, incrementally from their own cursor (kind
``refunds``) inside the channel's window rules, and only a refund that has been paid
out (:attr:`~channelsync.models.RefundStatus.REFUNDED`) changes stock:

- the order had shipped and the refund returns goods: the units it names come back
  on hand through a ``return_restocked`` ledger event keyed by (channel, refund, SKU),
  into the warehouse the shipment took them from. A refund without goods coming back
  (refund only) leaves stock alone.
- the order had not shipped: the units it names are released from the order's
  reservation, in the warehouse it is held in, through an ``order_cancelled`` event
  keyed by (channel, refund, SKU). The release never exceeds what the order still
  holds, so when the order's own status change has already released it (or does so
  later) the units are released once, never twice.

A returned kit (or multipack) is its components: each is restocked or released, the
kit's quantity times the component's, keyed by (channel, refund, component SKU).

A refund whose order has not been imported yet is parked with that reason and tried
again on every pull until the order arrives. A refund that returns goods without
saying which (some marketplaces refund a whole sub-order without line detail) is not
guessed at: it is reported and recorded in the audit trail, to be restocked by hand.
Each refund is applied in its own transaction together with the outbox entries its
stock change causes, so every other channel sees the units in the same cycle.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from channelsync.channels import RefundsCapability
from channelsync.engine.context import EngineContext
from channelsync.engine.ledger import EventKind, stock_units
from channelsync.engine.orders import stored_cursor
from channelsync.engine.planner import PlanReport, plan_changes
from channelsync.models import Order, Refund, RefundLine, RefundStatus
from channelsync.store import LedgerEvent, ParkedRecord, StoreSession

__all__ = ["CURSOR_KIND", "Outcome", "RefundReport", "apply_refund", "ingest_refunds"]

logger = logging.getLogger(__name__)

CURSOR_KIND = "refunds"
PARKED_KIND = "refund"
_MAX_WINDOWS = 10_000


class Outcome(StrEnum):
    """What applying one refund did."""

    APPLIED = "applied"
    """Stock changed (units restocked or released)."""
    NOTHING = "nothing"
    """No stock effect: not paid out yet, refund only, or already applied."""
    WAITING = "waiting"
    """Its order has not been imported yet."""


@dataclass
class RefundReport:
    """What one refund pull of one channel did."""

    channel: str
    seen: int = 0
    applied: int = 0
    parked: int = 0
    restocked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Units put back on hand per merchant code."""
    released: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Units released from reservations per merchant code."""
    unresolved: list[str] = field(default_factory=list)
    """Returns the engine could not restock by itself (restock them by hand)."""
    plan: PlanReport = field(default_factory=PlanReport)


async def ingest_refunds(context: EngineContext, channel: RefundsCapability) -> RefundReport:
    """Retry ``channel``'s parked refunds, then pull new ones from its cursor until caught up."""
    name = channel.name
    report = RefundReport(channel=name)
    _retry_parked(context, name, report)
    cursor = stored_cursor(context, name, CURSOR_KIND)
    for _ in range(_MAX_WINDOWS):
        pull = await channel.pull_refunds(cursor)
        for refund in pull.refunds:
            report.seen += 1
            _apply_one(context, name, refund, report)
        with context.store.transaction() as session:
            session.set_cursor(name, CURSOR_KIND, pull.cursor.since, pull.cursor.token)
        cursor = pull.cursor
        if pull.caught_up:
            break
    return report


def _retry_parked(context: EngineContext, channel: str, report: RefundReport) -> None:
    with context.store.transaction() as session:
        parked = [p for p in session.parked(channel=channel) if p.kind == PARKED_KIND]
    for record in parked:
        try:
            refund = Refund.model_validate(record.payload)
        except ValueError:
            continue  # kept parked, with its original reason, for a person to look at
        _apply_one(context, channel, refund, report, retry=True)


def _apply_one(
    context: EngineContext,
    channel: str,
    refund: Refund,
    report: RefundReport,
    *,
    retry: bool = False,
) -> None:
    try:
        with context.store.transaction() as session:
            outcome = apply_refund(session, context, refund, report)
            if outcome is not Outcome.WAITING:
                session.unpark(channel, PARKED_KIND, refund.refund_id)
    except Exception as error:  # noqa: BLE001 - one bad refund must never stop the rest
        logger.warning("refund %s/%s parked: %s", channel, refund.refund_id, error)
        _park(context, refund, f"{type(error).__name__}: {error}")
        report.parked += 1
        return
    if outcome is Outcome.WAITING:
        if not retry:
            _park(
                context,
                refund,
                f"order {refund.order_id} is not imported yet; tried again on every pull",
            )
        report.parked += 1
    elif outcome is Outcome.APPLIED:
        report.applied += 1


def _park(context: EngineContext, refund: Refund, reason: str) -> None:
    with context.store.transaction() as session:
        session.park(
            ParkedRecord(
                channel=refund.channel,
                kind=PARKED_KIND,
                key=refund.refund_id,
                reason=reason,
                payload=refund.model_dump(mode="json"),
            ),
            context.clock.now(),
        )


def apply_refund(
    session: StoreSession, context: EngineContext, refund: Refund, report: RefundReport
) -> Outcome:
    """Apply one refund's stock effect in the caller's transaction."""
    if refund.status is not RefundStatus.REFUNDED:
        return Outcome.NOTHING
    stored = session.order(refund.channel, refund.order_id)
    if stored is None:
        return Outcome.WAITING
    order = Order.model_validate(stored.raw)
    sold = _ordered_units(session, order)
    returned: list[tuple[int, int]] = []
    codes: dict[int, str] = {}
    for line in refund.lines:
        sku_id = _refund_line_sku(session, order, line)
        if sku_id is None:
            report.unresolved.append(
                f"{refund.channel}/{refund.refund_id}: line "
                f"{line.merchant_code or line.item_id} is bound to no SKU"
            )
            continue
        returned.append((sku_id, line.quantity))
    # Kits and multipacks hold no stock: their components are what comes back.
    components = session.components_of({*sold, *(sku_id for sku_id, _ in returned)})
    ordered = stock_units(sold.items(), components)
    wanted = stock_units(returned, components)
    if refund.returns_goods and not refund.lines and _any_shipped(session, order, ordered):
        _unresolved(session, context, refund, report)
        return Outcome.NOTHING
    events = []
    for sku_id, quantity in wanted.items():
        # A refund never puts back more than the order took of the SKU.
        units = min(quantity, ordered.get(sku_id, 0))
        if units <= 0:
            continue
        event = _event(session, refund, sku_id, units)
        if event is not None:
            events.append(event)
    applied = [e for e in events if session.apply_event(e, context.clock.now())]
    if not applied:
        return Outcome.NOTHING
    skus = session.skus_by_id([e.sku_id for e in applied])
    for event in applied:
        code = skus[event.sku_id].merchant_code
        codes[event.sku_id] = code
        if event.on_hand_delta:
            report.restocked[code] += event.on_hand_delta
        else:
            report.released[code] += -event.reserved_delta
    session.audit(
        channel=refund.channel,
        kind="refund",
        key=refund.refund_id,
        sent={
            "order_id": refund.order_id,
            "restocked": {codes[e.sku_id]: e.on_hand_delta for e in applied if e.on_hand_delta},
            "released": {codes[e.sku_id]: -e.reserved_delta for e in applied if e.reserved_delta},
        },
        ok=True,
        answer=None,
        now=context.clock.now(),
    )
    # The stock change reaches every channel's outbox in this same transaction.
    report.plan.add(plan_changes(session, context, {e.sku_id for e in applied}))
    return Outcome.APPLIED


def _event(session: StoreSession, refund: Refund, sku_id: int, units: int) -> LedgerEvent | None:
    channel, order_id = refund.channel, refund.order_id
    ship_key = f"ship:{channel}:{order_id}:{sku_id}"
    if session.has_event(ship_key):
        if not refund.returns_goods:
            return None  # refund only: the goods stay with the buyer
        return LedgerEvent(
            idempotency_key=f"return:{channel}:{refund.refund_id}:{sku_id}",
            kind=EventKind.RETURN_RESTOCKED,
            sku_id=sku_id,
            on_hand_delta=units,
            warehouse=_shipped_from(session, sku_id, ship_key),
            channel=channel,
            order_id=order_id,
            note=f"refund {refund.refund_id}",
        )
    held = session.reservation(channel, order_id, sku_id)
    release = min(units, held)
    if release <= 0:
        return None  # the order's own status change released it already
    held_in = session.reservation_warehouses(channel, [order_id]).get((order_id, sku_id), "")
    return LedgerEvent(
        idempotency_key=f"refund:{channel}:{refund.refund_id}:{sku_id}",
        kind=EventKind.ORDER_CANCELLED,
        sku_id=sku_id,
        reserved_delta=-release,
        warehouse=held_in,
        channel=channel,
        order_id=order_id,
        note=f"refund {refund.refund_id} before shipping",
    )


def _shipped_from(session: StoreSession, sku_id: int, ship_key: str) -> str:
    for event in session.ledger(sku_id):
        if event.idempotency_key == ship_key:
            return event.warehouse
    return ""


def _refund_line_sku(session: StoreSession, order: Order, line: RefundLine) -> int | None:
    """Return the SKU a refund line's goods are; the order line it names says it best."""
    named = next((x for x in order.lines if line.line_id and x.line_id == line.line_id), None)
    if named is not None:
        return _resolve(session, order.channel, named.item_id, named.sku_id, named.merchant_code)
    return _resolve(session, order.channel, line.item_id, line.sku_id, line.merchant_code)


def _ordered_units(session: StoreSession, order: Order) -> dict[int, int]:
    """Return the units of each SKU the order's lines sell (a kit as itself)."""
    units: dict[int, int] = defaultdict(int)
    for line in order.lines:
        sku_id = _resolve(session, order.channel, line.item_id, line.sku_id, line.merchant_code)
        if sku_id is not None:
            units[sku_id] += line.quantity
    return units


def _any_shipped(session: StoreSession, order: Order, ordered: dict[int, int]) -> bool:
    return any(
        session.has_event(f"ship:{order.channel}:{order.order_id}:{sku_id}") for sku_id in ordered
    )


def _unresolved(
    session: StoreSession, context: EngineContext, refund: Refund, report: RefundReport
) -> None:
    message = (
        f"{refund.channel}/{refund.refund_id}: goods returned on order {refund.order_id} "
        "without saying which; restock them by hand"
    )
    report.unresolved.append(message)
    already = session.audit_trail(channel=refund.channel, key=refund.refund_id, kind="refund")
    if not already:
        session.audit(
            channel=refund.channel,
            kind="refund",
            key=refund.refund_id,
            sent={"order_id": refund.order_id, "amount": str(refund.amount)},
            ok=False,
            answer=message,
            now=context.clock.now(),
        )


def _resolve(
    session: StoreSession,
    channel: str,
    item_id: str | None,
    listing_sku_id: str | None,
    merchant_code: str | None,
) -> int | None:
    if item_id is not None:
        binding = session.binding_for_listing(channel, item_id, listing_sku_id)
        if binding is not None and binding.sku_id is not None:
            return binding.sku_id
    if merchant_code:
        found = session.skus([merchant_code])
        if found:
            return found[0].id
    return None
