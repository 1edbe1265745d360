"""Report figures computed from orders one at a time, with no store or I/O in sight.

:class:`ReportBuilder` is fed orders in any order through :meth:`~ReportBuilder.add`
and keeps only running totals (per channel, day, SKU and buyer), never the orders
themselves, so tens of thousands of orders cost a few small dictionaries. What counts:

- **sales** are orders a buyer paid and that were not cancelled or refunded
  (``paid``, ``partially_shipped``, ``shipped``, ``completed``, ``refund_requested``:
  a requested refund may still be refused). ``pending_payment``, ``cancelled`` and
  ``refunded`` orders are excluded from every sales figure and counted on their own.
- an order's value is its ``total`` (what the buyer pays); a SKU's revenue is the sum
  of its lines' ``unit_price * quantity``, so shipping and order discounts are in the
  first and not the second.
- a kit (or multipack) counts as sold under its own code (best sellers); sales by
  component count each kit line as its components' units (the line's quantity times
  what one kit takes), added to the units those SKUs sold alone. The stock figures
  follow the stock: a component's rate of sale includes the units kits took, and a
  kit, which holds no stock, has as on hand and available what its components make.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from channelsync.models import Money, Order, OrderLine, OrderStatus
from channelsync.report.errors import ReportOptionError
from channelsync.report.figures import (
    BestSeller,
    ChannelSales,
    ComponentSales,
    DaySales,
    NoSale,
    RepeatBuyers,
    Report,
    StockCover,
    StockWindow,
)
from channelsync.report.period import ReportPeriod
from channelsync.store import BindingRecord, KitComponent, SkuRecord, StockPosition

__all__ = ["SALE_STATUSES", "CatalogueIndex", "ReportBuilder"]

#: The statuses whose orders count as sales.
SALE_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.REFUND_REQUESTED,
    }
)

_COVER_STEP = Decimal("0.1")
_RATE_STEP = Decimal("0.001")
_MAX_WINDOW_DAYS = 3660


@dataclass(frozen=True, slots=True)
class CatalogueIndex:
    """The catalogue's SKUs and listing bindings, to map order lines onto master SKUs.

    A line resolves as the engine resolves it when it imports the order: through the
    binding of its listing first, then through its merchant code. ``components`` holds
    each kit's ``(component id, units one kit takes)`` pairs.
    """

    skus: Mapping[int, SkuRecord]
    by_code: Mapping[str, int]
    bindings: Mapping[tuple[str, str, str | None], int]
    components: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        skus: Iterable[SkuRecord],
        bindings: Iterable[BindingRecord],
        components: Mapping[int, Sequence[KitComponent]] | None = None,
    ) -> CatalogueIndex:
        """Index the store's SKUs, bindings (unbound listings are left out) and kits."""
        by_id = {sku.id: sku for sku in skus}
        bound = {
            (b.channel, b.item_id, b.listing_sku_id or None): b.sku_id
            for b in bindings
            if b.sku_id is not None
        }
        kits = {
            kit_id: tuple((c.sku_id, c.quantity) for c in parts)
            for kit_id, parts in (components or {}).items()
            if parts
        }
        return cls(
            skus=by_id,
            by_code={s.merchant_code: s.id for s in by_id.values()},
            bindings=bound,
            components=kits,
        )

    def stock_units(self, sku_id: int, quantity: int) -> tuple[tuple[int, int], ...]:
        """Return the ``(stock SKU, units)`` a line of ``quantity`` takes: a kit's components'."""
        parts = self.components.get(sku_id)
        if not parts:
            return ((sku_id, quantity),)
        return tuple((component, quantity * units) for component, units in parts)

    def resolve(self, channel: str, line: OrderLine) -> int | None:
        """Return the master SKU id an order line is for, ``None`` when it is unbound."""
        found = self.bindings.get((channel, line.item_id, line.sku_id or None))
        if found is not None:
            return found
        if line.merchant_code:
            return self.by_code.get(line.merchant_code)
        return None


@dataclass(slots=True)
class _ChannelTotals:
    orders: int = 0
    units: int = 0
    sales: Decimal = Decimal(0)
    cancelled: int = 0
    cancelled_value: Decimal = Decimal(0)
    refunded: int = 0
    refunded_value: Decimal = Decimal(0)
    unpaid: int = 0


@dataclass(slots=True)
class _Buyers:
    orders: int = 0
    with_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class ReportBuilder:
    """Accumulates the figures of one report from orders fed one at a time.

    ``channel`` limits the sales figures to one channel; stock cover always uses every
    channel's sales, since all channels draw on the same stock. The stock window is the
    ``window_days`` before the period's ``until``.
    """

    def __init__(
        self,
        period: ReportPeriod,
        catalogue: CatalogueIndex,
        *,
        channel: str | None = None,
        window_days: int = 14,
        low_days: Decimal = Decimal(7),
        top: int = 10,
    ) -> None:
        if not 1 <= window_days <= _MAX_WINDOW_DAYS:
            raise ReportOptionError(
                "--window", f"{window_days} must be from 1 to {_MAX_WINDOW_DAYS} days"
            )
        if low_days < 0:
            raise ReportOptionError("--low-days", f"{low_days} must not be negative")
        if top < 1:
            raise ReportOptionError("--top", f"{top} must be at least 1")
        self.period = period
        self.catalogue = catalogue
        self.channel = channel
        self.window = StockWindow(
            days=window_days,
            since=period.until - timedelta(days=window_days),
            until=period.until,
            low_days=low_days,
        )
        self.top = top
        self._channels: dict[tuple[str, str], _ChannelTotals] = defaultdict(_ChannelTotals)
        self._daily: dict[tuple[str, str, date], list[Decimal]] = {}
        self._sku_units: dict[int, int] = defaultdict(int)
        self._sku_revenue: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        # Units per SKU in the stock window: a kit's own, and its components' with theirs.
        self._window_units: dict[int, int] = defaultdict(int)
        self._sold_alone: dict[int, int] = defaultdict(int)
        self._in_kits: dict[int, int] = defaultdict(int)
        self._buyers: dict[str, _Buyers] = defaultdict(_Buyers)
        self._unmatched_units = 0

    @property
    def earliest(self) -> datetime:
        """The earliest placing time of an order that counts in the period or the window."""
        return min(self.period.since, self.window.since)

    def add(self, order: Order) -> None:
        """Count one order (orders outside the period and the window are ignored)."""
        placed = order.created_at
        sale = order.status in SALE_STATUSES
        if sale and self.window.since <= placed < self.window.until:
            for line in order.lines:
                sku_id = self.catalogue.resolve(order.channel, line)
                if sku_id is None:
                    continue
                if sku_id in self.catalogue.components:
                    self._window_units[sku_id] += line.quantity
                for stock_id, units in self.catalogue.stock_units(sku_id, line.quantity):
                    self._window_units[stock_id] += units
        if not self.period.contains(placed):
            return
        if self.channel is not None and order.channel != self.channel:
            return
        if sale:
            self._add_sale(order)
        else:
            self._add_excluded(order)

    def _add_sale(self, order: Order) -> None:
        currency = order.currency
        amount = order.total.amount
        totals = self._channels[(order.channel, currency)]
        totals.orders += 1
        totals.sales += amount
        day = self._daily.setdefault(
            (order.channel, currency, self.period.day_of(order.created_at)),
            [Decimal(0), Decimal(0)],
        )
        day[0] += 1
        day[1] += amount
        for line in order.lines:
            totals.units += line.quantity
            sku_id = self.catalogue.resolve(order.channel, line)
            if sku_id is None:
                self._unmatched_units += line.quantity
                continue
            self._sku_units[sku_id] += line.quantity
            self._sku_revenue[(sku_id, currency)] += line.unit_price.amount * line.quantity
            if sku_id in self.catalogue.components:
                for stock_id, units in self.catalogue.stock_units(sku_id, line.quantity):
                    self._in_kits[stock_id] += units
            else:
                self._sold_alone[sku_id] += line.quantity
        buyers = self._buyers[order.channel]
        buyers.orders += 1
        if order.buyer_id is not None:
            buyers.with_id += 1
            buyers.counts[order.buyer_id] = buyers.counts.get(order.buyer_id, 0) + 1

    def _add_excluded(self, order: Order) -> None:
        totals = self._channels[(order.channel, order.currency)]
        if order.status is OrderStatus.CANCELLED:
            totals.cancelled += 1
            totals.cancelled_value += order.total.amount
        elif order.status is OrderStatus.REFUNDED:
            totals.refunded += 1
            totals.refunded_value += order.total.amount
        else:
            totals.unpaid += 1

    # -- results ------------------------------------------------------------------------

    def finish(self, positions: Mapping[int, StockPosition]) -> Report:
        """Return the report, given the current stock position of the catalogue's SKUs.

        A kit's position is not read: it holds no stock, so its on hand and available
        are what its components' make.
        """
        stock = {
            sku_id: (p.on_hand, p.available)
            for sku_id, p in positions.items()
            if sku_id not in self.catalogue.components
        }
        for kit_id, parts in self.catalogue.components.items():
            stock[kit_id] = (
                _makes(parts, {c: stock.get(c, (0, 0))[0] for c, _ in parts}),
                _makes(parts, {c: stock.get(c, (0, 0))[1] for c, _ in parts}),
            )
        return Report(
            period=self.period,
            channel=self.channel,
            window=self.window,
            channels=self._channel_rows(),
            daily=self._daily_rows(),
            best_sellers=self._best_sellers(),
            no_sales=self._no_sales(stock),
            stock_cover=self._stock_cover(stock),
            repeat_buyers=self._repeat_rows(),
            unmatched_units=self._unmatched_units,
            component_sales=self._component_sales(),
        )

    def _channel_rows(self) -> tuple[ChannelSales, ...]:
        rows = []
        for (channel, currency), t in sorted(self._channels.items()):
            rows.append(
                ChannelSales(
                    channel=channel,
                    currency=currency,
                    orders=t.orders,
                    units=t.units,
                    sales=Money.of(t.sales, currency),
                    cancelled_orders=t.cancelled,
                    cancelled_value=Money.of(t.cancelled_value, currency),
                    refunded_orders=t.refunded,
                    refunded_value=Money.of(t.refunded_value, currency),
                    unpaid_orders=t.unpaid,
                )
            )
        return tuple(rows)

    def _daily_rows(self) -> tuple[DaySales, ...]:
        # Every day of the period for every series that sold at all, zeros included, so
        # a quiet day shows as a zero rather than a gap.
        series = sorted({(channel, currency) for channel, currency, _ in self._daily})
        rows = []
        for day in self.period.days():
            for channel, currency in series:
                orders, sales = self._daily.get((channel, currency, day), (Decimal(0), Decimal(0)))
                rows.append(
                    DaySales(
                        day=day,
                        channel=channel,
                        currency=currency,
                        orders=int(orders),
                        sales=Money.of(sales, currency),
                    )
                )
        return tuple(rows)

    def _best_sellers(self) -> tuple[BestSeller, ...]:
        ranked = sorted(
            self._sku_units.items(),
            key=lambda item: (-item[1], self.catalogue.skus[item[0]].merchant_code),
        )
        revenue_of: dict[int, list[Money]] = defaultdict(list)
        for (sku_id, currency), amount in sorted(self._sku_revenue.items()):
            revenue_of[sku_id].append(Money.of(amount, currency))
        rows = []
        for rank, (sku_id, units) in enumerate(ranked[: self.top], start=1):
            sku = self.catalogue.skus[sku_id]
            revenue = tuple(revenue_of[sku_id])
            rows.append(
                BestSeller(
                    rank=rank,
                    merchant_code=sku.merchant_code,
                    title=sku.title,
                    units=units,
                    revenue=revenue,
                )
            )
        return tuple(rows)

    def _component_sales(self) -> tuple[ComponentSales, ...]:
        rows = []
        for sku_id in set(self._sold_alone) | set(self._in_kits):
            sku = self.catalogue.skus[sku_id]
            alone, in_kits = self._sold_alone.get(sku_id, 0), self._in_kits.get(sku_id, 0)
            rows.append(
                ComponentSales(
                    merchant_code=sku.merchant_code,
                    title=sku.title,
                    units=alone + in_kits,
                    sold_alone=alone,
                    in_kits=in_kits,
                )
            )
        rows.sort(key=lambda row: (-row.units, row.merchant_code))
        return tuple(rows)

    def _no_sales(self, stock: Mapping[int, tuple[int, int]]) -> tuple[NoSale, ...]:
        rows = []
        for sku in sorted(self.catalogue.skus.values(), key=lambda s: s.merchant_code):
            # A component a kit took units of sold, though no line names it.
            if self._sku_units.get(sku.id, 0) > 0 or self._in_kits.get(sku.id, 0) > 0:
                continue
            on_hand, available = stock.get(sku.id, (0, 0))
            rows.append(
                NoSale(
                    merchant_code=sku.merchant_code,
                    title=sku.title,
                    on_hand=on_hand,
                    available=available,
                )
            )
        return tuple(rows)

    def _stock_cover(self, stock: Mapping[int, tuple[int, int]]) -> tuple[StockCover, ...]:
        days = self.window.days
        rows = []
        for sku in self.catalogue.skus.values():
            on_hand, available = stock.get(sku.id, (0, 0))
            units = self._window_units.get(sku.id, 0)
            cover: Decimal | None = None
            if units > 0:
                # available / (units / days), kept exact until the final rounding.
                cover = (Decimal(max(available, 0) * days) / Decimal(units)).quantize(
                    _COVER_STEP, rounding=ROUND_HALF_UP
                )
            low = available <= 0 or (cover is not None and cover < self.window.low_days)
            rows.append(
                StockCover(
                    merchant_code=sku.merchant_code,
                    title=sku.title,
                    on_hand=on_hand,
                    available=available,
                    units_in_window=units,
                    daily_rate=(Decimal(units) / Decimal(days)).quantize(
                        _RATE_STEP, rounding=ROUND_HALF_UP
                    ),
                    cover_days=cover,
                    low_stock=low,
                )
            )
        # Shortest cover first; SKUs that did not sell (no cover figure) last.
        rows.sort(
            key=lambda c: (
                c.cover_days is None,
                c.cover_days if c.cover_days is not None else Decimal(0),
                c.merchant_code,
            )
        )
        return tuple(rows)

    def _repeat_rows(self) -> tuple[RepeatBuyers, ...]:
        rows = []
        for channel, buyers in sorted(self._buyers.items()):
            rows.append(
                RepeatBuyers(
                    channel=channel,
                    orders=buyers.orders,
                    orders_with_buyer_id=buyers.with_id,
                    buyers=len(buyers.counts),
                    repeat_buyers=sum(1 for count in buyers.counts.values() if count > 1),
                )
            )
        return tuple(rows)


def _makes(parts: Sequence[tuple[int, int]], units: Mapping[int, int]) -> int:
    """Return how many kits ``units`` of each component make (never below zero)."""
    return max(0, min(units.get(component, 0) // per_kit for component, per_kit in parts))
