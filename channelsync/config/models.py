"""The checked tables of ``channelsync.toml``: a channel's engine keys, the top-level tables.

Each is a frozen pydantic model that refuses unknown keys; :mod:`channelsync.config`
reads the file and hands each table to its model, turning a validation error into a
:class:`~channelsync.errors.ConfigurationError` that names the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

__all__ = [
    "SWEEP_PERIODS",
    "SYNC_KEYS",
    "Campaign",
    "ChannelSyncSettings",
    "DaemonConfig",
    "EngineConfig",
    "PriceRule",
    "WorkersConfig",
]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceRule(_Settings):
    """How a channel's price is made from the catalogue price.

    ``markup`` is a percentage added (negative: a discount); ``ending`` rounds the
    result up to the next price with that ending (``"0.90"``: 12.34 becomes 12.90,
    ``"9"``: 123 becomes 129); ``floor_margin`` is a percentage over cost the price
    never goes below, and ``floor`` an absolute amount it never goes below.

    ``currency`` is the currency the channel sells in (default: each SKU's catalogue
    currency). A SKU priced in another currency is not sent to the channel (its price
    change is parked as ``CURRENCY_MISMATCH``) unless ``rates`` gives the conversion
    from the SKU's currency: ``rates = { CNY = "0.138" }`` means one CNY is 0.138 of
    ``currency``. The markup, ending, floors and campaign prices are then in ``currency``.
    """

    markup: Decimal = Decimal(0)
    ending: Decimal | None = Field(default=None, ge=0)
    floor_margin: Decimal | None = None
    floor: Decimal | None = Field(default=None, gt=0)
    currency: str | None = None
    rates: dict[str, Decimal] = Field(default_factory=dict)

    @pydantic.field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError(f"{value!r} is not a three-letter currency code")
        return None if value is None else value.upper()

    @pydantic.field_validator("rates")
    @classmethod
    def _check_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        checked = {}
        for code, rate in value.items():
            if not re.fullmatch(r"[A-Za-z]{3}", code):
                raise ValueError(f"rates: {code!r} is not a three-letter currency code")
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"rates.{code}: {rate} must be a positive number")
            checked[code.upper()] = rate
        return checked

    @pydantic.model_validator(mode="after")
    def _check_rates_need_currency(self) -> PriceRule:
        if self.rates and self.currency is None:
            raise ValueError("rates need the channel's currency: set price.currency too")
        return self


class Campaign(_Settings):
    """A campaign price in a time window: a fixed ``price`` or a ``markup`` percentage.

    ``skus`` limits it to some merchant codes (empty: every SKU). The price rule's
    floors still apply.
    """

    start: AwareDatetime
    end: AwareDatetime
    price: Decimal | None = Field(default=None, gt=0)
    markup: Decimal | None = None
    skus: tuple[str, ...] = ()

    @pydantic.model_validator(mode="after")
    def _check(self) -> Campaign:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.price is None) == (self.markup is None):
            raise ValueError("give exactly one of price or markup")
        return self


class ChannelSyncSettings(_Settings):
    """How the engine treats one channel: its allocation and its price rules.

    ``share`` is the fraction (0 to 1) of available stock the channel is shown;
    ``cap`` the most it is ever shown; ``buffer`` units held back from it;
    ``priority`` who gets the last units (higher first); ``minimum`` a quantity shown
    even when it is not there (breaks the last-unit guarantee, and is reported);
    ``managed_stock = false`` for stock the marketplace holds itself (Amazon FBA),
    which is read, never pushed; ``auto_delist`` delists a listing at zero and lists
    it again when stock returns (where a delist takes a whole item off sale, only once
    every SKU of the item is at zero).

    ``warehouses`` are the warehouses whose stock feeds the channel, preferred first
    (unset: every warehouse but those a marketplace holds); ``marketplace_warehouses``
    are warehouses this channel's marketplace holds (Amazon FBA): their units are the
    marketplace's to sell, so they feed no channel, this one included.
    """

    share: Decimal = Field(default=Decimal(1), ge=0, le=1)
    cap: NonNegativeInt | None = None
    buffer: NonNegativeInt = 0
    priority: int = 0
    minimum: NonNegativeInt = 0
    managed_stock: bool = True
    auto_delist: bool = False
    price: PriceRule = PriceRule()
    campaigns: tuple[Campaign, ...] = ()
    warehouses: tuple[str, ...] | None = None
    marketplace_warehouses: tuple[str, ...] = ()

    @pydantic.field_validator("warehouses")
    @classmethod
    def _check_warehouses(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "name at least one warehouse, or leave the key out to be fed from every "
                "warehouse a marketplace does not hold"
            )
        return _check_warehouse_names(value)

    @pydantic.field_validator("marketplace_warehouses")
    @classmethod
    def _check_marketplace_warehouses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_warehouse_names(value)


def _check_warehouse_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse empty warehouse names and names listed twice."""
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise ValueError(f"warehouse {position} has an empty name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{_names(repeated)} listed more than once")
    return names


#: The keys of a ``[[channels]]`` entry that are engine settings, not channel settings.
SYNC_KEYS = frozenset(ChannelSyncSettings.model_fields)


class EngineConfig(_Settings):
    """The ``[engine]`` table: settings that apply across channels.

    ``strict`` partitions stock between channels at every level, not only when it is
    scarce; ``scarce_threshold`` overrides the per-SKU scarcity level (by default the
    number of channels selling the SKU); ``sales_window_days`` is how far back
    "recent sales" reach when ranking channels of equal priority;
    ``low_stock_threshold`` is the level below which the low-stock alert fires (by
    default the scarcity level); ``order_lookback_hours`` is how far back the first
    order pull of a channel reaches. ``fresh_reads`` lets order pulls also read the
    newest span a channel's completeness lag excludes, for early visibility (only
    channels that declare a floor for it; the span is read again later, complete).
    ``pace_window_seconds`` is how far back a SKU's sales rate per channel is measured
    for pace-aware protection (the units that may be sold and not yet seen are held
    back, and the SKU is partitioned that much earlier); ``0`` turns that off.
    """

    strict: bool = False
    scarce_threshold: NonNegativeInt | None = None
    sales_window_days: int = Field(default=7, ge=1)
    low_stock_threshold: NonNegativeInt | None = None
    order_lookback_hours: int = Field(default=24, ge=1)
    fresh_reads: bool = True
    pace_window_seconds: NonNegativeInt = 900


class DaemonConfig(_Settings):
    """The ``[daemon]`` table: how ``channelsync run`` paces its work (times in seconds).

    ``pull_interval`` is the time between order pulls of a channel, overridden per
    channel name in ``pull_intervals``; ``flush_interval`` how often a channel's outbox
    is checked for entries whose retry time has come (new work wakes it at once);
    ``reconcile_interval`` the time between full listing reads; ``stale_after`` how
    long a channel may go without a successful sync before the health check fails;
    ``shutdown_grace`` how long work in flight may run after a stop signal;
    ``lock_ttl`` how long the store lock outlives its last heartbeat (a crashed
    daemon's lock expires after it); ``max_backoff`` the longest wait after failures;
    ``personal_data_days`` how long buyers' personal data (delivery address, name,
    phone, note) is kept after an order is done (shipped, completed, cancelled) before
    the daemon erases it.
    """

    pull_interval: float = Field(default=60, gt=0)
    pull_intervals: dict[str, float] = Field(default_factory=dict)
    flush_interval: float = Field(default=5, gt=0)
    reconcile_interval: float = Field(default=3600, gt=0)
    stale_after: float = Field(default=900, gt=0)
    shutdown_grace: float = Field(default=10, ge=0)
    lock_ttl: float = Field(default=30, ge=3)
    max_backoff: float = Field(default=300, gt=0)
    personal_data_days: int = Field(default=30, ge=1)

    @pydantic.field_validator("pull_intervals")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, seconds in value.items():
            if seconds <= 0:
                raise ValueError(f"the pull interval of {name!r} must be greater than 0")
        return value

    @pydantic.model_validator(mode="after")
    def _check(self) -> DaemonConfig:
        slowest = max([self.pull_interval, *self.pull_intervals.values()])
        if self.stale_after <= slowest:
            raise ValueError(
                f"stale_after ({self.stale_after:g}) must be longer than the slowest pull "
                f"interval ({slowest:g}), or every channel would look stale between pulls"
            )
        return self

    def pull_interval_of(self, channel: str) -> float:
        """Return the pull interval of ``channel``."""
        return self.pull_intervals.get(channel, self.pull_interval)


#: Sweep periods a seconds-field cron can keep (they divide a minute).
SWEEP_PERIODS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


class WorkersConfig(_Settings):
    """The ``[workers]`` table (seconds).

    ``heartbeat_every``: how often a worker tells it is alive; ``stalled_after``: how
    long a silent worker's jobs wait before another worker takes them (at least three
    heartbeats, so a busy worker is not taken for dead; a step run twice is harmless
    but wasteful, and the first one's commits are refused); ``sweep_every``: how often
    such jobs are looked for (a divisor of a minute); ``poll_every``: how often a
    worker looks for jobs when no notification came; ``retries``: how often a failed
    step is tried again before the clock queues it at its next turn.
    """

    heartbeat_every: float = Field(default=10, gt=0)
    stalled_after: float = Field(default=60, gt=0)
    sweep_every: int = 15
    poll_every: float = Field(default=5, gt=0)
    retries: int = Field(default=5, ge=0)

    @pydantic.field_validator("sweep_every")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if value not in SWEEP_PERIODS:
            raise ValueError(
                f"sweep_every must divide a minute: one of {', '.join(map(str, SWEEP_PERIODS))}"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _check(self) -> WorkersConfig:
        if self.stalled_after < 3 * self.heartbeat_every:
            raise ValueError(
                f"stalled_after ({self.stalled_after:g}) must be at least three heartbeats "
                f"({3 * self.heartbeat_every:g} with heartbeat_every = "
                f"{self.heartbeat_every:g}), or a live worker would be taken for dead"
            )
        return self


def _names(keys: Iterable[str]) -> str:
    return ", ".join(repr(key) for key in keys)
