"""Order ingestion: pull each channel from its stored cursor and apply what changed.

Each pull reads one window after the cursor (with the overlap the channel declares)
and is repeated until the channel has caught up; the last one also reads the newest
span the channel's completeness lag excludes, where the channel declares a floor for
it and ``[engine] fresh_reads`` is on. Those orders are applied at once, as early
visibility; the cursor moves by the lagged rule only, so the span is read again,
complete, by later pulls, and the dedupe makes the second read harmless. Orders are
deduped by (channel, order id): an order already stored with the same or a newer
version is skipped, and a newer version read later supersedes it.
Each pulled page is applied in one transaction together with its stock events and
the outbox entries they cause (:class:`OrderPage`: bulk reads, one decision per
order, bulk writes); one order that cannot be applied is parked with its reason and
never blocks the rest. The cursor is stored after its window's orders are applied,
so a crash re-reads the window and the dedupe makes that harmless.

Stock effects per status: paid (or partially shipped) reserves; cancelled or refunded
before shipping releases; shipped or completed consumes on-hand stock and releases
the reservation. The units are reserved in one warehouse, the first of the ordering
channel's sources that can cover them (:mod:`~channelsync.engine.sourcing`); shipping
takes them from there and a release releases them there. A line selling a kit (or a
multipack) reserves, ships and releases its components instead, line quantity times
component quantity, added to any line of the same component in the order: the
events stay one per order and stock SKU, the kit itself has none. The order-imported
hook is called once per order and status change: the announcement is recorded in the
order's transaction and marked delivered right after the hook returns.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from channelsync.channels import OrdersCapability, PullCursor
from channelsync.engine.context import EngineContext
from channelsync.engine.order_page import IngestReport, OrderPage, parked_record
from channelsync.engine.pace import VisibilityMode
from channelsync.errors import NotFoundError
from channelsync.models import Order, OrderStatus
from channelsync.store import StoreSession
from channelsync.store.sql.errors import described, is_lock_conflict

__all__ = [
    "FetchReport",
    "IngestReport",
    "OrderPage",
    "apply_order",
    "deliver_notifications",
    "fetch_orders",
    "ingest_orders",
    "stored_cursor",
]

logger = logging.getLogger(__name__)

CURSOR_KIND = "orders"
_MAX_WINDOWS = 10_000


def stored_cursor(context: EngineContext, channel: str, kind: str) -> PullCursor:
    """Return where ``channel``'s pull of ``kind`` resumes (the lookback on a first pull)."""
    with context.store.transaction() as session:
        stored = session.cursor(channel, kind)
    if stored is None:
        start = context.clock.now() - timedelta(hours=context.config.order_lookback_hours)
        return PullCursor.starting_at(start)
    return PullCursor(since=stored[0], token=stored[1])


async def ingest_orders(context: EngineContext, channel: OrdersCapability) -> IngestReport:
    """Pull ``channel`` from its stored cursor until caught up, applying every order."""
    name = channel.name
    report = IngestReport(channel=name)
    cursor = stored_cursor(context, name, CURSOR_KIND)
    sample = _keeping_up(context, name, cursor)
    saved: set[tuple[str, str]] = set()
    for _ in range(_MAX_WINDOWS):
        pull = await channel.pull_orders(cursor, fresh=context.config.fresh_reads)
        report.windows += 1
        cursor = pull.cursor
        await _apply_page(
            context, name, pull.orders, report, sample=sample, saved=saved, cursor=cursor
        )
        if pull.caught_up:
            break
    await deliver_notifications(context, saved=saved)
    return report


@dataclass
class FetchReport:
    """What reading chosen orders by id did: imported (new or changed) and not found."""

    imported: int = 0
    missing: list[str] = field(default_factory=list)
    ingest: IngestReport | None = None


async def fetch_orders(
    context: EngineContext,
    channel: OrdersCapability,
    order_ids: Sequence[str],
    *,
    sample: bool = False,
) -> FetchReport:
    """Read orders by id and apply them through the same path as a pull.

    For an order a merchant names before the pull has reached it (a shipment of an
    order placed a minute ago), or one a marketplace event announced. Dedupe, ledger
    events and hooks are the pull's; the cursors are not moved. An id the marketplace
    does not know is reported missing. With ``sample``, a new order's delay from its
    marketplace time to now is a visibility sample (events: how soon they bring it).
    """
    report = FetchReport(ingest=IngestReport(channel=channel.name))
    assert report.ingest is not None
    for order_id in order_ids:
        try:
            order = await channel.get_order(order_id)
        except NotFoundError:
            report.missing.append(order_id)
            continue
        before = report.ingest.imported
        await _apply_alone(context, channel.name, order, report.ingest, sample=sample)
        report.imported += report.ingest.imported - before
    return report


def _keeping_up(context: EngineContext, channel: str, cursor: PullCursor) -> bool:
    """Whether a pull from ``cursor`` reads only recent orders (so their delays are samples).

    After a first pull's lookback, or downtime, the orders read are as old as the gap:
    they say how long the engine was away, not how soon a running one sees an order.
    """
    steady = context.visibility.declared(channel, VisibilityMode.POLLING)
    return context.clock.now() - cursor.since <= timedelta(seconds=2 * steady + 60)


def _save(session: StoreSession, *, channel: str, cursor: PullCursor) -> None:
    session.set_cursor(channel, CURSOR_KIND, cursor.since, cursor.token)


async def _apply_page(
    context: EngineContext,
    channel: str,
    orders: Sequence[Order],
    report: IngestReport,
    *,
    sample: bool = True,
    saved: set[tuple[str, str]] | None = None,
    cursor: PullCursor | None = None,
) -> None:
    """Apply one pulled page in one transaction: a few set-based statements, not per order.

    An order that cannot be applied is parked inside the same transaction. Should the
    page's writes fail as a whole, each order is applied again in its own transaction,
    so the failure is pinned on the order that causes it and the rest go in. The orders
    stored (committed) are added to ``saved``. ``cursor``, where the pull resumes after
    this page, is saved in the page's transaction (after the orders applied alone).
    """
    save = None if cursor is None else functools.partial(_save, channel=channel, cursor=cursor)
    if not orders:
        if save is not None:
            await context.transact(save, rows=1)
        return
    attempt = IngestReport(channel=channel)

    def apply(session: StoreSession) -> OrderPage:
        page = OrderPage.load(session, context, channel, orders, sample=sample)
        for order in orders:
            _apply_one(page, order, attempt)
        page.write(attempt)
        if save is not None:
            save(session)
        return page

    try:
        page = await context.transact(apply, rows=len(orders))
    except Exception as error:
        if is_lock_conflict(error):
            raise  # nothing was written, and nothing is wrong with the orders: run again
        logger.warning(
            "page of %d %s orders applied one by one: %s", len(orders), channel, described(error)
        )
        for order in orders:
            await _apply_alone(context, channel, order, report, sample=sample, saved=saved)
        if save is not None:
            await context.transact(save, rows=1)
        return
    report.add(attempt)
    if saved is not None:
        saved.update((o.channel, o.order_id) for o in page.orders)


def _apply_one(page: OrderPage, order: Order, report: IngestReport) -> None:
    """Apply one order of a page, or park it with its reason; it never blocks the rest."""
    try:
        applied = page.apply(order, report)
    except Exception as error:
        if is_lock_conflict(error):
            raise  # the page's transaction is lost, not the order: the step runs again
        logger.warning("order %s/%s parked: %s", page.channel, order.order_id, described(error))
        page.park(order, error)
        report.parked += 1
        return
    if applied:
        report.imported += 1
    else:
        report.skipped += 1


async def _apply_alone(
    context: EngineContext,
    channel: str,
    order: Order,
    report: IngestReport,
    *,
    sample: bool,
    saved: set[tuple[str, str]] | None = None,
) -> None:
    attempt = IngestReport(channel=channel)

    def apply(session: StoreSession) -> OrderPage:
        page = OrderPage.load(session, context, channel, [order], sample=sample)
        _apply_one(page, order, attempt)
        page.write(attempt)
        return page

    try:
        page = await context.transact(apply, rows=1)
    except Exception as error:
        if is_lock_conflict(error):
            raise  # another writer's transaction, not this order: the step runs again
        logger.warning("order %s/%s parked: %s", channel, order.order_id, described(error))
        record, now = parked_record(channel, order, error), context.clock.now()
        await context.transact(lambda session: session.park(record, now), rows=1)
        report.parked += 1
        return
    report.add(attempt)
    if saved is not None:
        saved.update((o.channel, o.order_id) for o in page.orders)


def apply_order(
    session: StoreSession, context: EngineContext, order: Order, report: IngestReport
) -> bool:
    """Apply one order in the caller's transaction; ``False`` if it was seen already."""
    page = OrderPage.load(session, context, order.channel, [order])
    applied = page.apply(order, report)
    page.write(report)
    return applied


async def deliver_notifications(
    context: EngineContext, *, saved: Collection[tuple[str, str]] = ()
) -> int:
    """Call the order-imported hook for every recorded, undelivered status change.

    ``saved`` names ``(channel, order_id)`` orders known to be stored (the caller has
    just committed them): with no hook to call they need not be read again.
    """
    host = context.host
    if host is not None and not host.implements("channelsync_order_imported"):
        host = None  # no plugin listens: recorded as delivered at once, as with no host
    with context.store.transaction() as session:
        pending = session.pending_notifications()
        wanted: dict[str, set[str]] = defaultdict(set)
        for channel, order_id, _, _ in pending:
            if host is not None or (channel, order_id) not in saved:
                wanted[channel].add(order_id)
        stored = {
            (channel, order_id): order
            for channel, order_ids in wanted.items()
            for order_id, order in session.orders_by_id(channel, order_ids).items()
        }
    if host is None:
        # Nobody to tell: record them all as delivered at once.
        known = [(c, o, v) for c, o, v, _ in pending if (c, o) in stored or (c, o) in saved]
        with context.store.transaction() as session:
            session.mark_notified_many(known)
        return len(known)
    delivered = 0
    for channel, order_id, version, previous in pending:
        found = stored.get((channel, order_id))
        if found is None:
            continue
        order = Order.model_validate(found.raw)
        if order.version == version:
            await host.order_imported(order, None if previous is None else OrderStatus(previous))
        # Recorded right after its hook returns: a crash repeats at most this one call.
        with context.store.transaction() as session:
            session.mark_notified(channel, order_id, version)
        delivered += 1
    return delivered
