"""What a channel can do and the numbers it must be driven within, as data.

The engine plans from these values (batch sizes, rate limits, the order window,
carrier codes); it never probes a channel by catching ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from channelsync.models import Carrier

__all__ = [
    "Capability",
    "ChannelLimits",
    "ListingScope",
    "Operation",
    "OrderWindow",
    "RateLimit",
]


class Capability(StrEnum):
    """A group of operations a channel may support."""

    LISTINGS = "listings"
    INVENTORY = "inventory"
    PRICING = "pricing"
    ORDERS = "orders"
    SHIPMENTS = "shipments"
    REFUNDS = "refunds"
    EVENTS = "events"


class Operation(StrEnum):
    """The SDK-level operations that have batch sizes the engine plans with."""

    LIST_LISTINGS = "listings.list"
    SET_LISTING_STATUS = "listings.set_status"
    SET_STOCK = "inventory.set_stock"
    SET_PRICE = "pricing.set_price"
    PULL_ORDERS = "orders.pull"
    GET_ORDER = "orders.get"
    PUSH_SHIPMENT = "shipments.push"
    PULL_REFUNDS = "refunds.pull"


class ListingScope(StrEnum):
    """What one list/delist call acts on."""

    SKU = "sku"
    """Each SKU is listed or delisted on its own."""
    ITEM = "item"
    """The whole item (ware, goods) and all its SKUs are listed or delisted together."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(_Frozen):
    """A token bucket: ``rate`` requests per second on average, ``burst`` at once."""

    rate: PositiveFloat = Field(allow_inf_nan=False)
    burst: PositiveInt = 1

    @classmethod
    def per_minute(cls, count: float, burst: int = 1) -> RateLimit:
        """Build a limit stated per minute, as several marketplaces state theirs."""
        return cls(rate=count / 60.0, burst=burst)


class OrderWindow(_Frozen):
    """The marketplace's rules for incremental order pulls.

    ``max_span`` is the longest modified-time window one query accepts; ``default_span``
    the span used per query (often smaller than the maximum, as the marketplace
    advises); ``lag`` how far behind the marketplace clock a window must end;
    ``overlap`` how far each pull reaches back before the stored cursor so that late
    writes on the marketplace side are not missed.

    ``fresh_lag`` opts the channel in to fresh reads: how close to the marketplace
    clock a read may end at all (the marketplace's own floor, such as Amazon's
    "``*Before`` at least two minutes ago"). A pull that has caught up then also reads
    ``[now - lag, now - fresh_lag)``, the span the completeness lag still excludes, so
    orders are seen early; the cursor still advances by ``lag`` only, so that span is
    read again later, complete. Declare it only where a young read may *miss* records
    (read again later) but never returns an order incomplete under a version the
    later read repeats. ``None`` (the default): no fresh reads.
    """

    max_span: timedelta
    default_span: timedelta | None = None
    lag: timedelta = timedelta(0)
    overlap: timedelta = timedelta(minutes=5)
    paging: Literal["forward", "backward"] = "forward"
    fresh_lag: timedelta | None = None

    @model_validator(mode="after")
    def _check(self) -> OrderWindow:
        if self.max_span <= timedelta(0):
            raise ValueError(f"max_span must be positive, got {self.max_span}")
        if self.default_span is not None and not (
            timedelta(0) < self.default_span <= self.max_span
        ):
            raise ValueError(
                f"default_span {self.default_span} must be positive and within max_span"
                f" {self.max_span}"
            )
        if self.lag < timedelta(0) or self.overlap < timedelta(0):
            raise ValueError("lag and overlap cannot be negative")
        if self.fresh_lag is not None and not timedelta(0) <= self.fresh_lag <= self.lag:
            raise ValueError(f"fresh_lag {self.fresh_lag} must be between 0 and the lag {self.lag}")
        if self.overlap >= self.span:
            # A pull reaches back by the overlap and forward by the span: it would never advance.
            raise ValueError(f"overlap {self.overlap} must be shorter than the span {self.span}")
        return self

    @property
    def span(self) -> timedelta:
        """The span one query covers."""
        return self.default_span or self.max_span


class ChannelLimits(_Frozen):
    """The numbers a channel must be driven within.

    ``batch_sizes`` maps an :class:`Operation` to the most updates one call may carry
    (absent means 1: one update per call, and the engine paces rather than batches).
    ``rate_limits`` maps a transport operation key (usually the marketplace's own
    method or path name) to its bucket; ``default_rate_limit`` covers the rest.
    ``carrier_codes`` maps canonical carriers to the marketplace's codes.
    ``unsafe_writes`` names the transport operation keys whose call must never be
    sent twice (a shipment): after a lost, cut or garbled answer the transport raises
    :class:`~channelsync.errors.OutcomeUnknownError` instead of resending, and the
    engine reads the marketplace's state to settle it. Every other call is resent
    on a transient failure, so writes not named here must be absolute (a stock or a
    price set to a value), where sending twice sets the same value twice.
    """

    batch_sizes: Mapping[Operation, PositiveInt] = Field(default_factory=dict)
    rate_limits: Mapping[str, RateLimit] = Field(default_factory=dict)
    default_rate_limit: RateLimit = RateLimit(rate=5.0, burst=5)
    order_window: OrderWindow = OrderWindow(max_span=timedelta(days=1))
    carrier_codes: Mapping[Carrier, str] = Field(default_factory=dict)
    listing_scope: ListingScope = ListingScope.SKU
    stock_delta: bool = False
    """Whether the marketplace accepts incremental (delta) stock changes natively."""
    unsafe_writes: frozenset[str] = frozenset()
    """Operation keys never resent after an unknown outcome (see the class docs)."""

    def batch_size(self, operation: Operation) -> int:
        """Return the largest batch one call of ``operation`` accepts (1 if undeclared)."""
        return self.batch_sizes.get(operation, 1)

    def rate_limit(self, operation: str) -> RateLimit:
        """Return the bucket for a transport operation key."""
        return self.rate_limits.get(operation, self.default_rate_limit)

    def carrier_code(self, carrier: Carrier) -> str | None:
        """Return the marketplace's code for ``carrier``, or ``None`` when it has none."""
        return self.carrier_codes.get(carrier)
