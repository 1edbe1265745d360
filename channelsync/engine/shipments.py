"""Shipments: confirm carrier and tracking number on the order's own channel, once.

A shipment request is recorded together with its outbox entry in one transaction.
Before it is pushed its state becomes ``sending`` (committed first); the answer moves
it to ``sent``. A shipment found ``sending`` on a later flush was interrupted between
sending and recording the answer, so the order's state is read from the marketplace
(``get_order``) before anything is resent: an order already shipped is recorded as
sent without a second push. A marketplace answering "already shipped" is a success.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from channelsync.channels import Channel, OrdersCapability, ShipmentsCapability
from channelsync.engine.context import EngineContext
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.orders import fetch_orders
from channelsync.engine.outbox import MAX_ATTEMPTS, FlushReport, Kind, backoff, parked_reason
from channelsync.errors import AuthenticationError, ChannelError, OutcomeUnknownError
from channelsync.models import OrderStatus, Shipment, ShipmentLine
from channelsync.store import OutboxItem, OutboxState

__all__ = [
    "ShipmentRequest",
    "fetch_missing_orders",
    "flush_shipments",
    "read_shipments_csv",
    "request_shipment",
    "request_shipments",
]

_DONE = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})
#: Shipment states in which an earlier push may have reached the marketplace.
_MAYBE_PUSHED = frozenset({"sending", "parked"})

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShipmentRequest:
    """A merchant's request to confirm one shipment."""

    channel: str
    order_id: str
    carrier: str
    tracking_number: str
    lines: tuple[tuple[str, int], ...] = ()
    row: int | None = None


def _build(
    context: EngineContext, request: ShipmentRequest, problems: list[Problem]
) -> Shipment | None:
    row = request.row
    if request.channel not in context.channels:
        known = ", ".join(sorted(context.channels)) or "none"
        problems.append(
            Problem(f"unknown channel {request.channel!r} (configured: {known})", row, "channel")
        )
        return None
    try:
        return Shipment(
            channel=request.channel,
            order_id=request.order_id,
            carrier=request.carrier,
            tracking_number=request.tracking_number,
            lines=tuple(
                ShipmentLine(merchant_code=code, quantity=quantity)
                for code, quantity in request.lines
            ),
            shipped_at=context.clock.now(),
        )
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else None
            problems.append(Problem(str(error["msg"]).removeprefix("Value error, "), row, name))
    return None


def request_shipments(context: EngineContext, requests: Sequence[ShipmentRequest]) -> int:
    """Record shipments and queue them, all or none; return how many were new.

    Refuses (with :class:`InputError`, nothing recorded) an order that is not in the
    store, on hold or cancelled, an unknown channel, carrier or malformed tracking
    number. An order not yet pulled can be read first with :func:`fetch_missing_orders`.
    """
    problems: list[Problem] = []
    built: list[Shipment] = []
    with context.store.transaction() as session:
        for request in requests:
            shipment = _build(context, request, problems)
            if shipment is None:
                continue
            stored = session.order(shipment.channel, shipment.order_id)
            if stored is None:
                problems.append(
                    Problem(
                        f"order {shipment.order_id} of {shipment.channel} is not in the store "
                        "(never imported): pull orders first, or pass --fetch to read it "
                        "from the marketplace",
                        request.row,
                        "order_id",
                    )
                )
            elif stored.on_hold:
                problems.append(
                    Problem(
                        f"order {shipment.order_id} is on hold and must not ship",
                        request.row,
                        "order_id",
                    )
                )
            elif stored.status in {"cancelled", "refunded"}:
                problems.append(
                    Problem(
                        f"order {shipment.order_id} is {stored.status}", request.row, "order_id"
                    )
                )
            else:
                built.append(shipment)
    if problems:
        raise InputError("shipments", problems)
    new = 0
    now = context.clock.now()
    with context.store.transaction() as session:
        for shipment in built:
            key = f"{shipment.order_id}/{shipment.tracking_number}"
            if session.add_shipment(
                key=f"{shipment.channel}/{key}",
                channel=shipment.channel,
                order_id=shipment.order_id,
                carrier=shipment.carrier.value,
                tracking_number=shipment.tracking_number,
                payload=shipment.model_dump(mode="json"),
                now=now,
            ):
                session.enqueue(
                    channel=shipment.channel,
                    kind=Kind.SHIPMENT,
                    key=key,
                    payload={"shipment_key": f"{shipment.channel}/{key}"},
                    urgency=0,
                    now=now,
                )
                new += 1
    return new


async def fetch_missing_orders(
    context: EngineContext,
    channels: Mapping[str, Channel[Any]],
    requests: Sequence[ShipmentRequest],
) -> int:
    """Read the orders ``requests`` name that the store lacks, and import them; return how many.

    Each is read from its marketplace by id and goes through the same ingest as a
    pull (dedupe, ledger, hooks), so an order found is imported as a pull would import
    it. A channel that cannot read one order is an :class:`InputError` before anything
    is read; an id the marketplace does not know is an :class:`InputError` naming it
    (no shipment is queued then). Orders already stored are not read again.
    """
    problems: list[Problem] = []
    wanted: dict[str, list[str]] = {}
    with context.store.transaction() as session:
        for request in requests:
            channel = channels.get(request.channel)
            if channel is None or session.order(request.channel, request.order_id) is not None:
                continue  # an unknown channel is refused by request_shipments, by name
            if not isinstance(channel, OrdersCapability):
                problems.append(
                    Problem(f"{request.channel} cannot read an order", request.row, "channel")
                )
                continue
            ids = wanted.setdefault(request.channel, [])
            if request.order_id not in ids:
                ids.append(request.order_id)
    if problems:
        raise InputError("shipments", problems)
    fetched = 0
    for name, order_ids in wanted.items():
        channel = channels[name]
        assert isinstance(channel, OrdersCapability)
        async with channel:
            report = await fetch_orders(context, channel, order_ids)
        fetched += report.imported
        if report.missing:
            raise InputError(
                "shipments",
                [Problem(f"order {o} is not on {name}", field="order_id") for o in report.missing],
            )
    return fetched


def request_shipment(
    context: EngineContext,
    channel: str,
    order_id: str,
    *,
    carrier: str,
    tracking_number: str,
    lines: Sequence[tuple[str, int]] = (),
) -> bool:
    """Record and queue one shipment; ``False`` when the same one was requested before."""
    return (
        request_shipments(
            context,
            [ShipmentRequest(channel, order_id, carrier, tracking_number, tuple(lines))],
        )
        == 1
    )


def read_shipments_csv(path: Path) -> list[ShipmentRequest]:
    """Read ``channel,order_id,carrier,tracking[,sku,quantity]`` rows.

    Rows with the same channel, order and tracking number are one shipment of several
    lines.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), [Problem("file not found")]) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path), [Problem(f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("channel", "order_id", "carrier", "tracking") if c not in columns]
    if missing:
        raise InputError(str(path), [Problem("missing required column", 1, c) for c in missing])
    problems: list[Problem] = []
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for number, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        for name in ("channel", "order_id", "carrier", "tracking"):
            if not row.get(name):
                problems.append(Problem("required value is empty", number, name))
        key = (row.get("channel", ""), row.get("order_id", ""), row.get("tracking", ""))
        entry = grouped.setdefault(
            key, {"row": number, "carrier": row.get("carrier", ""), "lines": []}
        )
        sku, quantity = row.get("sku", ""), row.get("quantity", "")
        if sku or quantity:
            count = int(quantity) if quantity.isdigit() else 0
            if count <= 0 or not sku:
                problems.append(
                    Problem("a line needs a SKU and a quantity above 0", number, "quantity")
                )
            else:
                entry["lines"].append((sku, count))
    if problems:
        raise InputError(str(path), problems)
    return [
        ShipmentRequest(channel, order_id, e["carrier"], tracking, tuple(e["lines"]), e["row"])
        for (channel, order_id, tracking), e in grouped.items()
    ]


async def flush_shipments(context: EngineContext, channel: Channel[Any]) -> FlushReport:
    """Push the channel's due shipments, each exactly once."""
    report = FlushReport()
    if not isinstance(channel, ShipmentsCapability):
        return report
    while True:
        with context.store.transaction() as session:
            due = session.due(channel.name, Kind.SHIPMENT, context.clock.now(), 50)
        if not due:
            break
        for item in due:
            await _push(context, channel, item, report)
        if report.deferred:
            break
    return report


async def _push(
    context: EngineContext, channel: ShipmentsCapability, item: OutboxItem, report: FlushReport
) -> None:
    key = str(item.payload["shipment_key"])
    with context.store.transaction() as session:
        record = session.shipment(key)
    if record is None:  # pragma: no cover - written in the same transaction as the entry
        return
    shipment = Shipment.model_validate(record.payload)
    try:
        # A push that may have landed (its answer was lost, or it was parked after a
        # failure) is looked up before it is pushed again.
        if record.state in _MAYBE_PUSHED and await _shipped(channel, shipment, report):
            _record(context, item, key, ok=True, answer="confirmed by the order's state", ref=None)
            report.sent += 1
            return
        with context.store.transaction() as session:
            session.set_shipment_state(key, "sending", context.clock.now())
        report.calls += 1
        result = await channel.push_shipment(shipment)
    except OutcomeUnknownError as unknown:
        await _settle_unknown(context, channel, item, key, shipment, unknown, report)
        return
    except ChannelError as error:
        _failed(context, item, key, error, report)
        return
    answer = "already shipped" if result.already_shipped else None
    _record(context, item, key, ok=True, answer=answer, ref=result.marketplace_ref)
    report.sent += 1


async def _shipped(channel: ShipmentsCapability, shipment: Shipment, report: FlushReport) -> bool:
    """Return whether the order, read now, shows this shipment recorded already."""
    if not isinstance(channel, OrdersCapability):
        return False
    order = await channel.get_order(shipment.order_id)
    report.calls += 1
    return order.status in _DONE or (
        shipment.partial and order.status is OrderStatus.PARTIALLY_SHIPPED
    )


async def _settle_unknown(  # noqa: PLR0917 - the push's facts, handed on
    context: EngineContext,
    channel: ShipmentsCapability,
    item: OutboxItem,
    key: str,
    shipment: Shipment,
    unknown: OutcomeUnknownError,
    report: FlushReport,
) -> None:
    """Settle a push whose answer was lost by reading the order, never by pushing again.

    Shipped: recorded as sent. Not shipped, or the read failed too: the entry waits
    (still ``sending``), and its next try reads the order again before any push.
    """
    try:
        if await _shipped(channel, shipment, report):
            answer = f"confirmed by the order's state after {unknown.message}"
            _record(context, item, key, ok=True, answer=answer, ref=None)
            report.sent += 1
            return
    except ChannelError as error:
        logger.info("%s shipment %s: the order could not be read: %s", item.channel, key, error)
    _failed(context, item, key, unknown, report)


def _record(
    context: EngineContext,
    item: OutboxItem,
    key: str,
    *,
    ok: bool,
    answer: str | None,
    ref: str | None,
) -> None:
    now = context.clock.now()
    with context.store.transaction() as session:
        session.audit(
            channel=item.channel,
            kind=item.kind,
            key=item.key,
            sent=dict(item.payload),
            ok=ok,
            answer=answer,
            now=now,
        )
        session.set_shipment_state(key, "sent", now, marketplace_ref=ref)
        session.settle(item.id, item.version, OutboxState.SENT, now=now)


def _failed(
    context: EngineContext, item: OutboxItem, key: str, error: ChannelError, report: FlushReport
) -> None:
    now = context.clock.now()
    attempts = item.attempts + 1
    with context.store.transaction() as session:
        session.audit(
            channel=item.channel,
            kind=item.kind,
            key=item.key,
            sent=dict(item.payload),
            ok=False,
            answer=str(error),
            now=now,
        )
        unsettled = error.retryable or isinstance(error, OutcomeUnknownError)
        if unsettled and attempts < MAX_ATTEMPTS:
            # The state stays "sending": the push may have landed, so the next try checks first.
            session.settle(
                item.id,
                item.version,
                OutboxState.PENDING,
                now=now,
                reason=str(error),
                next_attempt_at=now + backoff(attempts),
            )
            report.retried += 1
            report.deferred = True
        else:
            reason = parked_reason(
                str(error), authentication=isinstance(error, AuthenticationError)
            )
            session.settle(item.id, item.version, OutboxState.PARKED, now=now, reason=reason)
            session.set_shipment_state(key, "parked", now, reason=reason)
            report.parked += 1
            report.failures.append(f"{item.channel} shipment {item.key}: {error}")
