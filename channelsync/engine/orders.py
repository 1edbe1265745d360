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

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from channelsync.channels import OrdersCapability, PullCursor
from channelsync.config import ChannelSyncSettings
from channelsync.engine.context import EngineContext
from channelsync.engine.ledger import OrderStock, order_event_kind, stock_units
from channelsync.engine.pace import VisibilityMode
from channelsync.engine.planner import PlanReport, plan_changes
from channelsync.engine.sourcing import held_warehouses
from channelsync.errors import NotFoundError
from channelsync.models import Order, OrderStatus
from channelsync.store import KitComponent, LedgerEvent, ParkedRecord, StoredOrder, StoreSession

__all__ = [
    "FetchReport",
    "IngestReport",
    "apply_order",
    "deliver_notifications",
    "fetch_orders",
    "ingest_orders",
    "stored_cursor",
]

logger = logging.getLogger(__name__)

CURSOR_KIND = "orders"
_MAX_WINDOWS = 10_000


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

    def add(self, other: IngestReport) -> None:
        """Add ``other``'s counts and findings to this report."""
        self.imported += other.imported
        self.skipped += other.skipped
        self.parked += other.parked
        self.windows += other.windows
        self.unbound_lines += other.unbound_lines
        self.plan.add(other.plan)


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
        _apply_page(context, name, pull.orders, report, sample=sample, saved=saved)
        with context.store.transaction() as session:
            session.set_cursor(name, CURSOR_KIND, pull.cursor.since, pull.cursor.token)
        cursor = pull.cursor
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
        _apply_alone(context, channel.name, order, report.ingest, sample=sample)
        report.imported += report.ingest.imported - before
    return report


def _keeping_up(context: EngineContext, channel: str, cursor: PullCursor) -> bool:
    """Whether a pull from ``cursor`` reads only recent orders (so their delays are samples).

    After a first pull's lookback, or downtime, the orders read are as old as the gap:
    they say how long the engine was away, not how soon a running one sees an order.
    """
    steady = context.visibility.declared(channel, VisibilityMode.POLLING)
    return context.clock.now() - cursor.since <= timedelta(seconds=2 * steady + 60)


def _apply_page(
    context: EngineContext,
    channel: str,
    orders: Sequence[Order],
    report: IngestReport,
    *,
    sample: bool = True,
    saved: set[tuple[str, str]] | None = None,
) -> None:
    """Apply one pulled page in one transaction: a few set-based statements, not per order.

    An order that cannot be applied is parked inside the same transaction. Should the
    page's writes fail as a whole, each order is applied again in its own transaction,
    so the failure is pinned on the order that causes it and the rest go in. The orders
    stored (committed) are added to ``saved``.
    """
    if not orders:
        return
    attempt = IngestReport(channel=channel)
    try:
        with context.store.transaction() as session:
            page = OrderPage.load(session, context, channel, orders, sample=sample)
            for order in orders:
                _apply_one(page, order, attempt)
            page.write(attempt)
    except Exception as error:  # noqa: BLE001 - fall back to one transaction per order
        logger.warning("page of %d %s orders applied one by one: %s", len(orders), channel, error)
        for order in orders:
            _apply_alone(context, channel, order, report, sample=sample, saved=saved)
        return
    report.add(attempt)
    if saved is not None:
        saved.update((o.channel, o.order_id) for o in page.orders)


def _apply_one(page: OrderPage, order: Order, report: IngestReport) -> None:
    """Apply one order of a page, or park it with its reason; it never blocks the rest."""
    try:
        applied = page.apply(order, report)
    except Exception as error:  # noqa: BLE001 - one bad order must never stop the rest
        logger.warning("order %s/%s parked: %s", page.channel, order.order_id, error)
        page.park(order, error)
        report.parked += 1
        return
    if applied:
        report.imported += 1
    else:
        report.skipped += 1


def _apply_alone(
    context: EngineContext,
    channel: str,
    order: Order,
    report: IngestReport,
    *,
    sample: bool,
    saved: set[tuple[str, str]] | None = None,
) -> None:
    attempt = IngestReport(channel=channel)
    try:
        with context.store.transaction() as session:
            page = OrderPage.load(session, context, channel, [order], sample=sample)
            _apply_one(page, order, attempt)
            page.write(attempt)
    except Exception as error:  # noqa: BLE001 - one bad order must never stop the rest
        logger.warning("order %s/%s parked: %s", channel, order.order_id, error)
        with context.store.transaction() as session:
            session.park(_parked(channel, order, error), context.clock.now())
        report.parked += 1
        return
    report.add(attempt)
    if saved is not None:
        saved.update((o.channel, o.order_id) for o in page.orders)


def _parked(channel: str, order: Order, error: Exception) -> ParkedRecord:
    return ParkedRecord(
        channel=channel,
        kind="order",
        key=order.order_id,
        reason=f"{type(error).__name__}: {error}",
        payload=order.model_dump(mode="json"),
    )


def apply_order(
    session: StoreSession, context: EngineContext, order: Order, report: IngestReport
) -> bool:
    """Apply one order in the caller's transaction; ``False`` if it was seen already."""
    page = OrderPage.load(session, context, order.channel, [order])
    applied = page.apply(order, report)
    page.write(report)
    return applied


@dataclass
class OrderPage:
    """Orders of one channel applied together: read in bulk, decided one by one, written in bulk.

    :meth:`load` reads what the orders refer to (stored versions, bindings, SKUs, kits'
    components, reservations and the warehouses they are held in, stock per warehouse,
    parked records) in a few statements; :meth:`apply` decides one order and buffers
    its changes only when it succeeds; :meth:`write` records the buffered ledger events,
    orders and announcements and plans what they change for every channel, all in the
    caller's transaction.
    """

    session: StoreSession
    context: EngineContext
    channel: str
    stored: dict[str, StoredOrder]
    bindings: dict[tuple[str, str], int]
    skus: dict[str, int]
    ledger: OrderStock
    """What the stock events are decided against, kept current as they are buffered."""
    parked: set[str]
    components: dict[int, tuple[KitComponent, ...]] = field(default_factory=dict)
    """The components of each kit the orders' lines sell."""
    events: list[LedgerEvent] = field(default_factory=list)
    orders: list[StoredOrder] = field(default_factory=list)
    notifications: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)
    unpark: set[str] = field(default_factory=set)
    park_records: list[ParkedRecord] = field(default_factory=list)
    sample: bool = True
    """Record how long after its creation each order first imported here was seen."""
    delays: list[float] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        session: StoreSession,
        context: EngineContext,
        channel: str,
        orders: Sequence[Order],
        *,
        sample: bool = True,
    ) -> OrderPage:
        """Read in bulk what applying ``orders`` needs to know.

        The SKUs whose stock events are still to be applied are locked
        (:meth:`~channelsync.store.StoreSession.lock_skus`) before their stock and
        reservations are read, so where a reservation is held and the units released
        are decided on what the events are applied to; a page read again locks nothing.
        """
        ids = [o.order_id for o in orders]
        lines = [line for o in orders for line in o.lines]
        bindings = session.bindings_for_listings(channel, ((n.item_id, n.sku_id) for n in lines))
        bound = {key: b.sku_id for key, b in bindings.items() if b.sku_id is not None}
        codes = {
            line.merchant_code
            for line in lines
            if line.merchant_code and (line.item_id, line.sku_id or "") not in bound
        }
        skus = {s.merchant_code: s.id for s in session.skus(codes)} if codes else {}
        sold = set(bound.values()) | set(skus.values())
        components = session.components_of(sold) if sold else {}
        reserved = session.reservations(channel, ids)
        # The stock SKUs an order may move: its lines' (a kit's components), and those
        # it holds reserved (released when it leaves paid, should it no longer sell them).
        pairs = set(reserved)
        for order in orders:
            for line in order.lines:
                found = bound.get((line.item_id, line.sku_id or ""))
                if found is None and line.merchant_code:
                    found = skus.get(line.merchant_code)
                if found is not None:
                    units = stock_units([(found, 1)], components)
                    pairs.update((order.order_id, sku_id) for sku_id in units)
        keys = {
            f"{kind}:{channel}:{order_id}:{sku_id}"
            for kind in ("reserve", "release", "ship")
            for order_id, sku_id in pairs
        }
        applied = session.applied_events(keys)
        needs: dict[str, set[str]] = defaultdict(set)
        for order in orders:
            if (kind := order_event_kind(order.status)) is not None:
                needs[order.order_id].add(kind)
        new = {
            sku_id
            for order_id, sku_id in pairs
            for kind in needs[order_id]
            if f"{kind}:{channel}:{order_id}:{sku_id}" not in applied
            and (kind != "release" or (order_id, sku_id) in reserved)
        }
        if new:
            session.lock_skus(new)
            # Read again under the lock: another writer may have applied some since.
            applied = session.applied_events(keys)
            reserved = session.reservations(channel, ids)
        moves_stock = any(kinds & {"reserve", "ship"} for kinds in needs.values())
        infos = context.channels
        own = infos.get(channel)
        ledger = OrderStock(
            channel=channel,
            applied=applied,
            reserved=reserved,
            held_in=session.reservation_warehouses(channel, ids),
            stock=session.warehouse_stock({s for _, s in pairs}) if moves_stock else {},
            settings=own.settings if own is not None else ChannelSyncSettings(),
            held=held_warehouses({name: info.settings for name, info in infos.items()}),
        )
        return cls(
            session=session,
            context=context,
            channel=channel,
            stored=session.orders_by_id(channel, ids),
            bindings=bound,
            skus=skus,
            ledger=ledger,
            parked={p.key for p in session.parked(channel=channel) if p.kind == "order"},
            components=components,
            sample=sample,
        )

    def apply(self, order: Order, report: IngestReport) -> bool:
        """Decide one order and buffer its changes; ``False`` if it was seen already.

        Raises (buffering nothing) when the order cannot be applied.
        """
        stored = self.stored.get(order.order_id)
        if stored is not None and (
            stored.version == order.version or stored.updated_at > order.updated_at
        ):
            return False
        sold: list[tuple[int, int]] = []
        unbound: list[str] = []
        for line in order.lines:
            sku_id = self._resolve(line.item_id, line.sku_id, line.merchant_code)
            if sku_id is None:
                unbound.append(
                    f"{order.channel}/{order.order_id}: {line.merchant_code or line.item_id}"
                )
                continue
            sold.append((sku_id, line.quantity))
        units = stock_units(sold, self.components)
        events = self.ledger.events(order.order_id, order.status, units)
        now = self.context.clock.now()
        record = StoredOrder(
            channel=order.channel,
            order_id=order.order_id,
            status=order.status.value,
            version=order.version,
            updated_at=order.updated_at,
            created_at=order.created_at,
            on_hold=order.on_hold,
            raw=order.model_dump(mode="json"),
            imported_at=now,
        )
        # Nothing failed: buffer the order's changes.
        self.ledger.take(order.order_id, events)
        self.events += events
        self.touched.update(units)
        self.touched.update(e.sku_id for e in events)
        report.unbound_lines += unbound
        self.orders.append(record)
        self.stored[order.order_id] = record
        if stored is None and self.sample:
            # The order's visibility delay: how long the marketplace sold before we knew.
            self.delays.append(max(0.0, (now - order.created_at).total_seconds()))
        previous = None if stored is None else stored.status
        if previous != order.status.value:
            self.notifications.append((order.channel, order.order_id, order.version, previous))
        if order.order_id in self.parked:
            self.unpark.add(order.order_id)
        return True

    def park(self, order: Order, error: Exception) -> None:
        """Keep an order that could not be applied, with its reason."""
        self.park_records.append(_parked(self.channel, order, error))
        self.unpark.discard(order.order_id)

    def write(self, report: IngestReport) -> None:
        """Record what was buffered and queue what it changes for every channel."""
        session, now = self.session, self.context.clock.now()
        session.apply_events(self.events, now)
        session.save_orders(self.orders)
        session.add_notifications(self.notifications)
        for order_id in sorted(self.unpark):
            session.unpark(self.channel, "order", order_id)
        for record in self.park_records:
            session.park(record, now)
        if self.delays:
            mode = self.context.visibility.mode(self.channel).value
            session.record_visibility({(self.channel, mode): self.delays}, now)
        if self.touched:
            # The stock change reaches every channel's outbox in this same transaction.
            report.plan.add(plan_changes(session, self.context, sorted(self.touched)))

    def _resolve(
        self, item_id: str, listing_sku_id: str | None, merchant_code: str | None
    ) -> int | None:
        bound = self.bindings.get((item_id, listing_sku_id or ""))
        if bound is not None:
            return bound
        return self.skus.get(merchant_code) if merchant_code else None


async def deliver_notifications(
    context: EngineContext, *, saved: Collection[tuple[str, str]] = ()
) -> int:
    """Call the order-imported hook for every recorded, undelivered status change.

    ``saved`` names ``(channel, order_id)`` orders known to be stored (the caller has
    just committed them): with no hook to call they need not be read again.
    """
    host = context.host
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
