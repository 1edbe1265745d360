"""The figures a report holds: plain, immutable values, money always with its currency.

Amounts are :class:`~channelsync.models.Money`; one figure never sums two currencies,
so a channel selling in CNY and USD has one row per currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from channelsync.models import Money
from channelsync.report.period import ReportPeriod

__all__ = [
    "BestSeller",
    "ChannelSales",
    "ComponentSales",
    "DaySales",
    "NoSale",
    "RepeatBuyers",
    "Report",
    "StockCover",
    "StockWindow",
]


@dataclass(frozen=True, slots=True)
class ChannelSales:
    """One channel's sales in one currency over the period, and the orders left out.

    ``orders``, ``units`` and ``sales`` count sales only (paid orders not cancelled or
    refunded); ``cancelled``, ``refunded`` and ``unpaid`` count the orders excluded
    from them, with the value they would have had.
    """

    channel: str
    currency: str
    orders: int
    units: int
    sales: Money
    cancelled_orders: int
    cancelled_value: Money
    refunded_orders: int
    refunded_value: Money
    unpaid_orders: int

    @property
    def average_order_value(self) -> Money | None:
        """Sales divided by orders, rounded half-up to the currency's minor unit."""
        if self.orders == 0:
            return None
        return Money.of(self.sales.amount / self.orders, self.currency).quantize()


@dataclass(frozen=True, slots=True)
class DaySales:
    """A channel's sales in one currency on one calendar day of the report's zone."""

    day: date
    channel: str
    currency: str
    orders: int
    sales: Money


@dataclass(frozen=True, slots=True)
class BestSeller:
    """A catalogue SKU ranked by units sold; its line revenue per currency."""

    rank: int
    merchant_code: str
    title: str
    units: int
    revenue: tuple[Money, ...]


@dataclass(frozen=True, slots=True)
class ComponentSales:
    """A stock SKU's units sold in the period, a kit's lines counted as its components' units.

    ``sold_alone`` are the units of its own lines; ``in_kits`` those kits (and
    multipacks) took, the kit's quantity times the units one kit takes; ``units`` is
    both. A kit's price is not split among its components, so there is no revenue here.
    """

    merchant_code: str
    title: str
    units: int
    sold_alone: int
    in_kits: int


@dataclass(frozen=True, slots=True)
class NoSale:
    """A catalogue SKU without a sale in the period, and the stock it holds."""

    merchant_code: str
    title: str
    on_hand: int
    available: int


@dataclass(frozen=True, slots=True)
class StockWindow:
    """The recent span whose sales rate stock cover is computed from, and the low mark."""

    days: int
    since: datetime
    until: datetime
    low_days: Decimal


@dataclass(frozen=True, slots=True)
class StockCover:
    """How many days a SKU's available stock lasts at its recent rate of sale.

    ``daily_rate`` is the units sold in the stock window (every channel) divided by its
    days; ``cover_days`` is ``available`` divided by that rate, ``None`` when nothing
    sold (the stock lasts indefinitely at that rate). ``low_stock`` is true when cover
    is under the low mark or nothing is available.
    """

    merchant_code: str
    title: str
    on_hand: int
    available: int
    units_in_window: int
    daily_rate: Decimal
    cover_days: Decimal | None
    low_stock: bool


@dataclass(frozen=True, slots=True)
class RepeatBuyers:
    """Of a channel's buyers in the period, the share who ordered more than once.

    Counted only over orders that carry the marketplace's buyer id; ``rate`` is
    ``None`` (shown as n/a) when none does, e.g. a marketplace that masks buyers.
    """

    channel: str
    orders: int
    orders_with_buyer_id: int
    buyers: int
    repeat_buyers: int

    @property
    def rate(self) -> Decimal | None:
        """``repeat_buyers / buyers`` to four places, ``None`` without buyer ids."""
        if self.buyers == 0:
            return None
        return (Decimal(self.repeat_buyers) / Decimal(self.buyers)).quantize(Decimal("0.0001"))


@dataclass(frozen=True, slots=True)
class Report:
    """Every figure of one report over one period (of one channel, or all)."""

    period: ReportPeriod
    channel: str | None
    window: StockWindow
    channels: tuple[ChannelSales, ...]
    daily: tuple[DaySales, ...]
    best_sellers: tuple[BestSeller, ...]
    no_sales: tuple[NoSale, ...]
    stock_cover: tuple[StockCover, ...]
    repeat_buyers: tuple[RepeatBuyers, ...]
    unmatched_units: int
    """Units sold in the period on order lines bound to no catalogue SKU."""
    component_sales: tuple[ComponentSales, ...] = ()
    """Units per stock SKU with kits expanded into their components, most first."""

    @property
    def low_stock(self) -> tuple[StockCover, ...]:
        """The SKUs whose stock cover is under the low mark (or that have none available)."""
        return tuple(cover for cover in self.stock_cover if cover.low_stock)
