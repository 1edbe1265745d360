"""One pulled page of orders applied together: read in bulk, decided one by one, written in bulk.

:class:`OrderPage` is what :mod:`~channelsync.engine.orders` applies each page with, in
the page's transaction; :class:`IngestReport` is what an ingestion reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from channelsync.config import ChannelSyncSettings
from channelsync.engine.context import EngineContext
from channelsync.engine.ledger import OrderStock, order_event_kind, stock_units
from channelsync.engine.planner import PlanReport, plan_changes
from channelsync.engine.sourcing import held_warehouses
from channelsync.models import Order
from channelsync.store import (
    AppliedUnderLock,
    KitComponent,
    LedgerEvent,
    ParkedRecord,
    StoredOrder,
    StoreSession,
)
from channelsync.store.sql.errors import described

__all__ = ["IngestReport", "OrderPage", "parked_record"]


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
    locked: AppliedUnderLock | None = None
    """The SKUs :meth:`load` locked and the keys it then read applied, for the write."""

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
        bound = session.skus_of_listings(channel, ((n.item_id, n.sku_id) for n in lines))
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
        locked = None
        if new:
            session.lock_skus(new)
            # Read again under the lock: another writer may have applied some since.
            applied = session.applied_events(keys)
            reserved = session.reservations(channel, ids)
            # What the events' write need not read again (the page's keys, under lock).
            locked = AppliedUnderLock(frozenset(new), frozenset(applied))
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
            locked=locked,
        )

    def apply(self, order: Order, report: IngestReport) -> bool:
        """Decide one order and buffer its changes; ``False`` if it was seen already.

        Raises (buffering nothing) when the order cannot be applied.
        """
        stored = self.stored.get(order.order_id)
        version = order.version  # computed by the model on each read
        if stored is not None and (
            stored.version == version or stored.updated_at > order.updated_at
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
            version=version,
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
            self.notifications.append((order.channel, order.order_id, version, previous))
        if order.order_id in self.parked:
            self.unpark.add(order.order_id)
        return True

    def park(self, order: Order, error: Exception) -> None:
        """Keep an order that could not be applied, with its reason."""
        self.park_records.append(parked_record(self.channel, order, error))
        self.unpark.discard(order.order_id)

    def write(self, report: IngestReport) -> None:
        """Record what was buffered and queue what it changes for every channel."""
        session, now = self.session, self.context.clock.now()
        session.apply_events(self.events, now, known=self.locked)
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


def parked_record(channel: str, order: Order, error: Exception) -> ParkedRecord:
    """Return the parked record of an order that could not be applied, with its reason."""
    return ParkedRecord(
        channel=channel,
        kind="order",
        key=order.order_id,
        reason=described(error),
        payload=order.model_dump(mode="json"),
    )
