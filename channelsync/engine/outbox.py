"""Sending the outbox: batches per channel, most urgent first, each item settled alone.

Every outgoing change was written to the outbox in the same transaction as its cause;
here it is sent. Stock goes first, ordered zero-outs, then decreases, then
increases; then prices, then listing status, then shipments (which
:mod:`channelsync.engine.shipments` sends). Sends are grouped into the channel's
batch size; the transport paces each call to the channel's rate limits. Each item's
answer settles that item: sent, retried later with exponential backoff, or parked
with the marketplace's reason. The answers of a few calls in a row
(:data:`CALLS_PER_SETTLE`, all within :data:`SETTLE_WITHIN`) are settled by one
transaction, which also reads the next calls' entries; every call is still preceded by
a commit (a worker whose lease moved on stops there, see
:mod:`channelsync.workers.fencing`). That read goes on from the last entry answered,
and from the front of the queue again every :data:`READ_ON_FOR` and before the flush
ends. A channel that takes stock and prices in one go
(:class:`~channelsync.channels.StockAndPriceCapability`) gets both kinds' due entries
together while both have some. When a whole batch is throttled or fails transiently
the channel's remaining items wait for the next cycle, so the most urgent changes
are the first to go once the marketplace accepts calls again. A call that raises
(an error of the plugin's, not a marketplace's refusal, which is an answer) ends the
flush once the answers of the calls before it are settled. Every send is audited.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from channelsync.channels import (
    Capability,
    Channel,
    InventoryCapability,
    ListingsCapability,
    Operation,
    PricingCapability,
    StockAndPriceCapability,
)
from channelsync.engine.context import EngineContext
from channelsync.engine.guard import PREVIOUS, guard_raises
from channelsync.models import (
    ListingStatus,
    ListingStatusChange,
    Money,
    PriceChange,
    StockUpdate,
    UpdateResult,
)
from channelsync.store import AuditEntry, OutboxItem, OutboxState, Settlement, StoreSession
from channelsync.store.sql.errors import described

__all__ = [
    "CALLS_PER_SETTLE",
    "MAX_ATTEMPTS",
    "READ_ON_FOR",
    "SETTLE_WITHIN",
    "WAITING_FOR_CREDENTIALS",
    "FlushReport",
    "Kind",
    "backoff",
    "drop_parked",
    "flush_channel",
    "parked_reason",
    "resume_after_authentication",
    "stock_urgency",
]

#: A retryable failure is parked after this many attempts.
MAX_ATTEMPTS = 8
_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_MAX = timedelta(hours=1)

#: The most calls of one kind whose answers one transaction settles. A settle's cost
#: is mostly its statements, hardly its rows: on PostgreSQL, settling four calls of 50
#: at once took a first cycle's flush of 20,000 SKUs x 4 from 14.7-14.8 to 9.0-10.2 s,
#: and the process's CPU by a quarter; eight took the flush of 100,000 SKUs x 4 from
#: 34.6-42.0 to 30.9-32.8 s. Workers killed under load (``worker_chaos.py``, seed 1701)
#: once converged more slowly with eight; run again, alternating, eight converged in
#: 27-66 s and four in 45-61 s, the slow runs of both waiting on Amazon's rate limits
#: (``benchmarks/README.md``). A crash between calls leaves their answers unrecorded:
#: those entries are sent again (at most :data:`SETTLE_WITHIN` of calls).
CALLS_PER_SETTLE = 8
#: The longest a call's answers wait for the calls after it before they are settled
#: (seconds of the event loop's clock): a marketplace whose rate limit spaces the calls
#: out gets its entries settled about as often as before.
SETTLE_WITHIN = 1.0
#: How long a flush reads on from the last entry it answered before it reads from the
#: front of the queue again (seconds of the event loop's clock). Reading on skips what
#: it settled in front, which PostgreSQL's due index keeps until vacuumed: read from the
#: front, each read walked all of it (1 ms a read at the start of 100,000 SKUs' stock,
#: 3 ms at the end). An entry that became more urgent behind the flush's position (a
#: zero-out queued while it sends increases) waits at most this much longer, and a flush
#: that finds nothing more on reads from the front before it ends.
READ_ON_FOR = 1.0

logger = logging.getLogger(__name__)


class Kind(StrEnum):
    """What an outbox entry changes."""

    STOCK = "stock"
    PRICE = "price"
    LISTING = "listing"
    SHIPMENT = "shipment"


def stock_urgency(quantity: int, previous: int | None) -> int:
    """Return 0 for a zero-out, 1 for a decrease, 2 for an increase (or a first send)."""
    if quantity == 0:
        return 0
    if previous is not None and quantity < previous:
        return 1
    return 2


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: 30 s doubling, at most an hour."""
    return min(_BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 16)), _BACKOFF_MAX)


@dataclass
class FlushReport:
    """What one flush of one channel did."""

    sent: int = 0
    retried: int = 0
    parked: int = 0
    calls: int = 0
    deferred: bool = False
    """The channel throttled or failed a whole batch; the rest waits for the next cycle."""
    failures: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """SKUs whose raise the re-inflation guard holds back (an order is in flight)."""
    resumed: int = 0
    """Entries parked for credentials, queued again because the channel authenticates."""

    def add(self, other: FlushReport) -> None:
        """Add ``other``'s counts to this report."""
        self.resumed += other.resumed
        self.sent += other.sent
        self.retried += other.retried
        self.parked += other.parked
        self.calls += other.calls
        self.deferred = self.deferred or other.deferred
        self.failures += other.failures
        self.held += other.held


def _stock(item: OutboxItem) -> StockUpdate:
    p = item.payload
    return StockUpdate(
        item_id=p["item_id"],
        sku_id=p["sku_id"],
        merchant_code=p["merchant_code"],
        quantity=p["quantity"],
    )


def _price(item: OutboxItem) -> PriceChange:
    p = item.payload
    return PriceChange(
        item_id=p["item_id"],
        sku_id=p["sku_id"],
        merchant_code=p["merchant_code"],
        price=Money.of(p["amount"], p["currency"]),
    )


def _status(item: OutboxItem) -> ListingStatusChange:
    p = item.payload
    return ListingStatusChange(
        item_id=p["item_id"],
        sku_id=p["sku_id"],
        merchant_code=p["merchant_code"],
        status=ListingStatus(p["status"]),
    )


#: The reason every entry parked because the marketplace rejected the credentials
#: starts with; they go again on their own once the channel authenticates again.
WAITING_FOR_CREDENTIALS = "waiting for credentials"


def parked_reason(answer: str, *, authentication: bool) -> str:
    """Return the reason to park a refused entry (marked when the credentials were refused)."""
    return f"{WAITING_FOR_CREDENTIALS}: {answer}" if authentication else answer


def drop_parked(
    session: StoreSession,
    *,
    channel: str,
    kind: str,
    key: str,
    reason: str,
    who: str,
    now: datetime,
) -> OutboxItem | None:
    """Drop a parked entry for good and audit who did it and why; ``None``: none parked there.

    A dropped shipment entry marks its shipment ``dropped`` with the reason.
    """
    dropped = session.drop_parked(channel, kind, key)
    if dropped is None:
        return None
    if kind == Kind.SHIPMENT:
        shipment_key = str(dropped.payload.get("shipment_key", ""))
        if shipment_key:
            session.set_shipment_state(shipment_key, "dropped", now, reason=reason)
    session.audit(
        channel=channel,
        kind="outbox_drop",
        key=f"{kind}/{key}",
        sent={"payload": dict(dropped.payload), "parked_for": dropped.reason, "by": who},
        ok=True,
        answer=f"dropped by {who}: {reason}",
        now=now,
    )
    return dropped


def resume_after_authentication(context: EngineContext, channel: Channel[Any]) -> int:
    """Requeue the channel's entries parked for credentials, once a call has succeeded since.

    A successful call (a pull, a token refresh followed by a call) proves the
    credentials work again, so what was parked before it goes without anyone running
    ``outbox retry``. Entries parked after the last success stay parked: the
    credentials may still be wrong.
    """
    if channel.last_success_at is None:
        return 0
    now = context.clock.now()
    with context.store.transaction() as session:
        count = session.requeue_parked(
            now,
            channel.name,
            reason_prefix=WAITING_FOR_CREDENTIALS,
            parked_before=channel.last_success_at,
        )
    if count:
        logger.info(
            "%s authenticates again: %d change(s) parked for credentials queued again",
            channel.name,
            count,
        )
    return count


async def flush_channel(context: EngineContext, channel: Channel[Any]) -> FlushReport:
    """Send the channel's due stock, price and listing entries; settle each one.

    First, entries parked for rejected credentials are queued again if the channel
    has authenticated since (:func:`resume_after_authentication`).
    """
    report = FlushReport()
    report.resumed = resume_after_authentication(context, channel)
    plans: list[tuple[Kind, Capability, Operation]] = [
        (Kind.STOCK, Capability.INVENTORY, Operation.SET_STOCK),
        (Kind.PRICE, Capability.PRICING, Operation.SET_PRICE),
        (Kind.LISTING, Capability.LISTINGS, Operation.SET_LISTING_STATUS),
    ]
    for kind, capability, operation in plans:
        if not channel.supports(capability):
            continue
        size = channel.limits.batch_size(operation)
        if kind is Kind.STOCK:
            await _guard(context, channel, report)
            if isinstance(channel, StockAndPriceCapability) and channel.supports(
                Capability.PRICING
            ):
                await _send_together(context, channel, report)
        if report.deferred:
            break
        await _send_kind(context, channel, kind, report, size=size)
    return report


async def _send_kind(
    context: EngineContext, channel: Channel[Any], kind: Kind, report: FlushReport, *, size: int
) -> None:
    """Send the channel's due entries of ``kind`` until none is left or the channel defers.

    While the reads fill their limit (more may follow right after), each next read goes
    on from the last entry answered. It reads from the front of the queue after a read
    that did not (the queue held no more), once :data:`READ_ON_FOR` has passed since the
    last read from the front, and once more when reading on finds nothing.
    """
    loop = asyncio.get_running_loop()
    limit = size * CALLS_PER_SETTLE
    with context.store.transaction() as session:
        due = session.due(channel.name, kind, context.clock.now(), limit)
    front = loop.time()
    while due:
        read_on = len(due) == limit and loop.time() - front < READ_ON_FOR
        due = await _send_batches(context, channel, kind, due, report, size=size, read_on=read_on)
        if not read_on:
            front = loop.time()
        elif not due and not report.deferred:
            with context.store.transaction() as session:
                due = session.due(channel.name, kind, context.clock.now(), limit)
            front = loop.time()


async def _guard(context: EngineContext, channel: Channel[Any], report: FlushReport) -> None:
    with context.store.transaction() as session:
        due = session.due_carrying(channel.name, Kind.STOCK, context.clock.now(), PREVIOUS)
    guarded = await guard_raises(context, channel, due)
    report.calls += guarded.calls
    report.held += guarded.held


async def _send_together(
    context: EngineContext, channel: StockAndPriceCapability, report: FlushReport
) -> None:
    """Send due stock and due prices in one go while both kinds have entries due."""
    assert isinstance(channel, Channel)
    stock_size = channel.limits.batch_size(Operation.SET_STOCK)
    price_size = channel.limits.batch_size(Operation.SET_PRICE)
    while not report.deferred:
        with context.store.transaction() as session:
            now = context.clock.now()
            stock = session.due(channel.name, Kind.STOCK, now, stock_size)
            prices = session.due(channel.name, Kind.PRICE, now, price_size)
        if not stock or not prices:
            return  # one kind alone goes the usual way
        report.calls += 1
        stock_results, price_results = await channel.set_stock_and_prices(
            [_stock(i) for i in stock], [_price(i) for i in prices]
        )
        results = [*stock_results, *price_results]
        items, now = [*stock, *prices], context.clock.now()
        settle = functools.partial(_settle, items=items, results=results, report=report, now=now)
        await context.transact(settle, rows=len(items))
        if all(r.error is not None and r.error.retryable for r in results):
            report.deferred = True


async def _send_batches(
    context: EngineContext,
    channel: Channel[Any],
    kind: Kind,
    items: Sequence[OutboxItem],
    report: FlushReport,
    *,
    size: int,
    read_on: bool = False,
) -> list[OutboxItem]:
    """Send ``items`` in calls of ``size``, settle the answers; return the next entries due.

    ``items`` were read in a commit just before the first call; each further call
    first commits nothing, so that every call follows a commit (the lease fencing of
    the workers refuses that commit once the lease moved on, and the flush stops before
    the call). The calls end early once a whole call is throttled or failed
    transiently (the rest waits for the next cycle), or :data:`SETTLE_WITHIN` after the
    first (the rest is read again with the next entries). The next entries, none once
    deferred, are read in the transaction that settles these: with ``read_on``, those
    after the last entry answered.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    answered: list[OutboxItem] = []
    results: list[UpdateResult] = []
    for start in range(0, len(items), size):
        if start:
            if loop.time() - started >= SETTLE_WITHIN:
                break
            with context.store.transaction():
                pass  # the commit before the call
        batch = items[start : start + size]
        try:
            batch_results = await _call(channel, kind, batch)
        except Exception:
            await _settle_before_raising(context, answered, results, report)
            raise
        report.calls += 1
        answered += batch
        results += batch_results
        if all(r.error is not None and r.error.retryable for r in batch_results):
            report.deferred = True
            break
    limit = size * CALLS_PER_SETTLE

    def settle(session: StoreSession) -> list[OutboxItem]:
        _settle(session, answered, results, report, context.clock.now())
        if report.deferred:
            return []
        after = answered[-1] if read_on else None
        return session.due(channel.name, kind, context.clock.now(), limit, after=after)

    return await context.transact(settle, rows=len(answered))


async def _settle_before_raising(
    context: EngineContext,
    answered: Sequence[OutboxItem],
    results: Sequence[UpdateResult],
    report: FlushReport,
) -> None:
    """Settle the answers of the calls before one that raised (not a channel's refusal).

    The marketplace took those calls: unsettled, their entries would be sent again. A
    failure to settle them is logged and the call's own error goes on.
    """
    if not answered:
        return
    settle = functools.partial(
        _settle, items=answered, results=results, report=report, now=context.clock.now()
    )
    try:
        await context.transact(settle, rows=len(answered))
    except Exception as error:  # noqa: BLE001 - the call's error is the one that matters
        logger.warning(
            "the answers of %d entries before a failed call were not recorded (they will "
            "be sent again): %s",
            len(answered),
            described(error),
        )


async def _call(
    channel: Channel[Any], kind: Kind, items: Sequence[OutboxItem]
) -> Sequence[UpdateResult]:
    """Send one batch of ``kind``; return one answer per item."""
    if kind is Kind.STOCK:
        assert isinstance(channel, InventoryCapability)
        return await channel.set_stock([_stock(i) for i in items])
    if kind is Kind.PRICE:
        assert isinstance(channel, PricingCapability)
        return await channel.set_prices([_price(i) for i in items])
    assert isinstance(channel, ListingsCapability)
    return await channel.set_listing_status([_status(i) for i in items])


def _settle(
    session: StoreSession,
    items: Sequence[OutboxItem],
    results: Sequence[UpdateResult],
    report: FlushReport,
    now: datetime,
) -> None:
    """Record a batch's answers: audit each item, settle it, remember what was accepted."""
    audits: list[AuditEntry] = []
    outcomes: list[Settlement] = []
    for item, result in zip(items, results, strict=True):
        answer = None if result.error is None else _describe(result)
        audits.append(
            AuditEntry(
                now, item.channel, item.kind, item.key, dict(item.payload), result.ok, answer
            )
        )
        outcomes.append(_outcome(item, result, answer, report, now))
    session.audit_many(audits)
    current = session.settle_many(outcomes, now)
    quantities: dict[int, int] = {}
    prices: dict[int, str] = {}
    for item, outcome, is_current in zip(items, outcomes, current, strict=True):
        binding_id = item.payload.get("binding_id")
        if outcome.state is not OutboxState.SENT or not is_current or not binding_id:
            continue
        if item.kind == Kind.STOCK:
            quantities[int(binding_id)] = int(item.payload["quantity"])
        elif item.kind == Kind.PRICE:
            prices[int(binding_id)] = str(item.payload["amount"])
    session.set_sent_many(quantities=quantities, prices=prices, now=now)


def _outcome(
    item: OutboxItem, result: UpdateResult, answer: str | None, report: FlushReport, now: datetime
) -> Settlement:
    if result.ok:
        report.sent += 1
        return Settlement(item.id, item.version, OutboxState.SENT)
    assert result.error is not None
    attempts = item.attempts + 1
    if result.error.retryable and attempts < MAX_ATTEMPTS:
        report.retried += 1
        return Settlement(
            item.id,
            item.version,
            OutboxState.PENDING,
            reason=answer,
            next_attempt_at=now + backoff(attempts),
        )
    reason = (
        parked_reason(answer or "", authentication=result.error.authentication)
        if not result.error.retryable
        else f"gave up after {attempts} attempts: {answer}"
    )
    report.parked += 1
    report.failures.append(
        f"{item.channel} {item.kind} {item.payload.get('merchant_code')}: {reason}"
    )
    return Settlement(item.id, item.version, OutboxState.PARKED, reason=reason)


def _describe(result: UpdateResult) -> str:
    assert result.error is not None
    code = f"({result.error.code}) " if result.error.code else ""
    return f"{code}{result.error.message}"
