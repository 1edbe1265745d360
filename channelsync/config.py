"""The configuration file, ``channelsync.toml``: where state lives and which channels exist.

The file is TOML (read with :mod:`tomllib`). Example::

    [store]
    url = "sqlite:////var/lib/channelsync/state.db"   # optional
    workspace = "acme"           # optional: the merchant's workspace in a shared store

    [engine]                     # optional
    strict = false               # partition stock between channels at every level
    scarce_threshold = 3         # per-SKU scarcity level (default: channels selling it)

    [daemon]                     # optional: how `channelsync run` paces its work
    pull_interval = 60           # seconds between order pulls of a channel
    pull_intervals = { "tmall-main" = 30 }   # per-channel overrides


    [[channels]]
    name = "tmall-main"          # unique; letters, digits, '_', '.', '-'
    type = "tmall"               # a channel type provided by an installed plugin
    base_url = "https://..."     # optional gateway override (sandbox, local fake)
    share = 0.5                  # allocation (all optional): share of available stock,
    cap = 100                    # the most ever shown, units held back, who gets the
    buffer = 2                   # last units first, a deliberate floor (breaks the
    priority = 10                # last-unit guarantee; reported), whether the engine
    minimum = 0                  # pushes stock (false: the marketplace holds it, e.g.
    managed_stock = true         # FBA), delisting at zero
    auto_delist = false
    warehouses = ["WH-B", "WH-A"]  # warehouses feeding it, preferred first (default: all
    marketplace_warehouses = []  # but held ones); those its marketplace holds (["FBA-US"])
    price = { markup = 5, ending = "0.90", floor_margin = 10 }
    campaigns = [
      { start = 2026-06-18T00:00:00+08:00, end = 2026-06-19T00:00:00+08:00, markup = -20 },
    ]
    app_key = "12345678"         # every other key is a setting of the channel type

Rules:

* ``[store]``, ``[engine]``, ``[daemon]`` and ``[[channels]]`` are the only top-level entries;
  anything else is refused by name.
* The allocation and price keys of a channel (:data:`SYNC_KEYS`) are engine
  settings, checked here (:class:`ChannelSyncSettings`); every other key is a setting
  of the channel type.
* A warehouse listed in a channel's ``marketplace_warehouses`` is held by that
  channel's marketplace: no two channels may hold the same one, and no channel may
  name it in ``warehouses``.
* ``store.url`` defaults to a SQLite file next to the configuration file,
  ``sqlite:///<directory of the file>/channelsync.db``; a relative SQLite path is
  taken relative to that directory too.
* ``store.workspace`` selects one merchant's workspace in a store that holds several
  (:data:`WORKSPACE_PATTERN`; ``default`` is the store as one merchant has it). Unset,
  the store's only workspace is used (``--workspace NAME`` on a command overrides it).
* Secrets are never read from the file. A channel key that looks like a secret by
  its name (``app_secret``, ``*_token``, ``password`` …) is refused when the file is
  loaded, and a key that is one of the channel type's credential fields is refused
  when the settings are resolved. The message says how to store the secret in the
  keyring or the environment instead and never repeats the value.
* Every error is a :class:`~channelsync.errors.ConfigurationError` naming the file,
  the channel (by name, or by position when it has no usable name) and the field.

Reading happens only when :func:`load_config` is called; importing this module reads
nothing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from channelsync.console.settings import ConsoleSettings, parse_console
from channelsync.credentials import env_var_name
from channelsync.errors import ConfigurationError
from channelsync.workers.settings import WorkersSettings, parse_workers

if TYPE_CHECKING:
    from channelsync.channels import Channel, ChannelSettings
    from channelsync.plugins.registry import ChannelRegistry

__all__ = [
    "CHANNEL_NAME_PATTERN",
    "DEFAULT_CONFIG_FILENAME",
    "DEFAULT_STORE_FILENAME",
    "DEFAULT_WORKSPACE",
    "SYNC_KEYS",
    "WORKSPACE_PATTERN",
    "Campaign",
    "ChannelConfig",
    "ChannelSyncSettings",
    "Config",
    "DaemonConfig",
    "EngineConfig",
    "PriceRule",
    "StoreConfig",
    "check_workspace_name",
    "is_secret_name",
    "load_config",
    "resolve_channel_type",
    "resolve_settings",
]

#: The file :func:`load_config` reads when no path is given (in the working directory).
DEFAULT_CONFIG_FILENAME = "channelsync.toml"
#: The SQLite file created next to the configuration file when ``store.url`` is unset.
DEFAULT_STORE_FILENAME = "channelsync.db"
#: What a channel name must look like.
CHANNEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
#: The workspace of a store as one merchant has it (the URL's own schema, or its file).
DEFAULT_WORKSPACE = "default"
#: What a workspace name must look like: it becomes part of a schema or file name.
WORKSPACE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

_SQLITE_PREFIX = "sqlite:///"
_TOP_LEVEL_KEYS = frozenset({"store", "engine", "daemon", "console", "workers", "channels"})
_STORE_KEYS = frozenset({"url", "workspace"})
_RESERVED_CHANNEL_KEYS = ("name", "type", "base_url")

_SECRET_NAMES = frozenset(
    {
        "secret",
        "app_secret",
        "client_secret",
        "lwa_client_secret",
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "session",
        "session_key",
        "api_key",
        "private_key",
    }
)
_SECRET_SUFFIXES = ("_secret", "_token", "_password")


def is_secret_name(key: str) -> bool:
    """Return whether a setting name looks like a secret (case-insensitive).

    Matches the well-known names (``app_secret``, ``password``, ``token``,
    ``session``, ``api_key``, ``private_key`` …) and any name ending in ``_secret``,
    ``_token`` or ``_password``. Public identifiers such as ``app_key`` do not match.
    """
    name = key.strip().lower().replace("-", "_")
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


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


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where channelsync keeps its durable state, and which merchant's workspace in it."""

    url: str
    workspace: str | None = None
    """The workspace to work on (:func:`check_workspace_name`); ``None``: the store's only one."""

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a ``sqlite:///`` URL, ``None`` for other URLs."""
        if not self.url.startswith(_SQLITE_PREFIX):
            return None
        return Path(self.url.removeprefix(_SQLITE_PREFIX))


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One ``[[channels]]`` entry.

    ``settings`` holds every key other than ``name``, ``type`` and ``base_url``, as
    read from the file (a read-only mapping); the channel type's settings model
    validates them in :func:`resolve_settings`.
    """

    name: str
    type: str
    base_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sync: ChannelSyncSettings = field(default_factory=ChannelSyncSettings)


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration file."""

    path: Path
    """The absolute path of the file it was read from."""
    store: StoreConfig
    channels: tuple[ChannelConfig, ...] = ()
    engine: EngineConfig = field(default_factory=EngineConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    workers: WorkersSettings = field(default_factory=WorkersSettings)

    @property
    def channel_names(self) -> list[str]:
        """The configured channel names, in file order."""
        return [channel.name for channel in self.channels]

    def channel(self, name: str) -> ChannelConfig:
        """Return the channel called ``name``.

        Raises :class:`~channelsync.errors.ConfigurationError` naming the channel and
        the configured ones when there is no such channel.
        """
        for channel in self.channels:
            if channel.name == name:
                return channel
        known = ", ".join(self.channel_names) or "none"
        raise ConfigurationError(
            f"no channel named {name!r} is configured (configured channels: {known})",
            path=str(self.path),
        )


# -- loading ---------------------------------------------------------------------------


def load_config(path: str | Path | None = None) -> Config:
    """Read and check a configuration file.

    ``path`` defaults to ``channelsync.toml`` in the current working directory. Raises
    :class:`~channelsync.errors.ConfigurationError` when the file is missing or
    unreadable, is not valid TOML (the message carries the line and column), has
    unknown tables or keys, values of the wrong type, invalid or duplicate channel
    names, or a secret.
    """
    file = Path(DEFAULT_CONFIG_FILENAME) if path is None else Path(path)
    file = file.expanduser().absolute()
    where = str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            "configuration file not found; create it or point to another file",
            path=where,
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"configuration file cannot be read: {exc.strerror or exc}", path=where
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"configuration file is not UTF-8 text (bad byte at offset {exc.start})", path=where
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"invalid TOML: {exc}", path=where) from None
    return _parse(data, file)


def _parse(data: dict[str, Any], file: Path) -> Config:
    where = str(file)
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown top-level {_plural(unknown, 'entry', 'entries')} "
            f"{_names(unknown)}; allowed: [store], [engine], [daemon], [console], "
            "[workers] and [[channels]]",
            path=where,
        )
    store = _parse_store(data.get("store", {}), file)
    engine = _parse_engine(data.get("engine", {}), where)
    raw_channels = data.get("channels", [])
    if not isinstance(raw_channels, list):
        raise ConfigurationError(
            "'channels' must be an array of tables, written as [[channels]] entries",
            path=where,
            field="channels",
        )
    channels: list[ChannelConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_channels, start=1):
        channel = _parse_channel(raw, index, where)
        if channel.name in seen:
            raise ConfigurationError(
                f"duplicate channel name (entries {seen[channel.name]} and {index} of "
                "[[channels]]); channel names must be unique",
                path=where,
                channel=channel.name,
                field="name",
            )
        seen[channel.name] = index
        channels.append(channel)
    _check_sourcing(channels, where)
    daemon = _parse_daemon(data.get("daemon", {}), where, seen)
    console = parse_console(data.get("console", {}), where)
    workers = parse_workers(data.get("workers", {}), where)
    return Config(
        path=file,
        store=store,
        channels=tuple(channels),
        engine=engine,
        daemon=daemon,
        console=console,
        workers=workers,
    )


def _check_sourcing(channels: Iterable[ChannelConfig], where: str) -> None:
    """Refuse a warehouse two marketplaces hold, and a channel fed from a held one."""
    channels = list(channels)
    held: dict[str, str] = {}
    for channel in channels:
        for warehouse in channel.sync.marketplace_warehouses:
            holder = held.setdefault(warehouse, channel.name)
            if holder != channel.name:
                raise ConfigurationError(
                    f"warehouse {warehouse!r} is held by channel {holder!r} already; a "
                    "warehouse can be held by one marketplace only",
                    path=where,
                    channel=channel.name,
                    field="marketplace_warehouses",
                )
    for channel in channels:
        for warehouse in channel.sync.warehouses or ():
            if warehouse in held:
                holder = held[warehouse]
                whose = "this channel" if holder == channel.name else f"channel {holder!r}"
                raise ConfigurationError(
                    f"warehouse {warehouse!r} is held by the marketplace of {whose} (its "
                    "marketplace_warehouses): its units are the marketplace's to sell and "
                    "feed no channel; remove it from warehouses",
                    path=where,
                    channel=channel.name,
                    field="warehouses",
                )


def _parse_daemon(raw: object, where: str, channels: Mapping[str, int]) -> DaemonConfig:
    if not isinstance(raw, dict):
        raise ConfigurationError("'daemon' must be a table, written as [daemon]", path=where)
    try:
        daemon = DaemonConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        loc, message = _describe_sync_error(exc)
        raise ConfigurationError(message, path=where, field=f"daemon.{loc}") from None
    unknown = sorted(set(daemon.pull_intervals) - set(channels))
    if unknown:
        raise ConfigurationError(
            f"no channel named {_names(unknown)} is configured",
            path=where,
            field="daemon.pull_intervals",
        )
    return daemon


def _parse_engine(raw: object, where: str) -> EngineConfig:
    if not isinstance(raw, dict):
        raise ConfigurationError("'engine' must be a table, written as [engine]", path=where)
    try:
        return EngineConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        loc, message = _describe_sync_error(exc)
        raise ConfigurationError(message, path=where, field=f"engine.{loc}") from None


def _describe_sync_error(exc: pydantic.ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error.get("loc", ())) or "(table)"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key"
    value = error.get("input")
    # The value of an unknown or secret-looking key is never echoed: it may be a secret.
    shown = error.get("type") not in ("missing", "extra_forbidden") and not any(
        is_secret_name(str(part)) for part in error.get("loc", ())
    )
    if shown and isinstance(value, str | int | float | bool):
        message = f"{message} (got {value!r})"
    return loc, message


def check_workspace_name(name: object, *, field: str = "store.workspace") -> str:
    """Return ``name`` if it can name a workspace; else raise naming the value and the rule.

    1 to 40 characters: lowercase letters, digits, ``_`` and ``-``, starting with a
    letter or digit (it becomes part of a PostgreSQL schema name or a SQLite file name).
    """
    if isinstance(name, str) and WORKSPACE_PATTERN.fullmatch(name):
        return name
    raise ConfigurationError(_bad_workspace(name), field=field)


def _bad_workspace(name: object) -> str:
    return (
        f"{name!r} is not a workspace name: use 1 to 40 lowercase letters, digits, '_' "
        "or '-', starting with a letter or digit"
    )


def _parse_store(raw: object, file: Path) -> StoreConfig:
    where = str(file)
    if not isinstance(raw, dict):
        raise ConfigurationError("'store' must be a table, written as [store]", path=where)
    unknown = sorted(set(raw) - _STORE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown {_plural(unknown, 'key', 'keys')} {_names(unknown)} in [store]; "
            "allowed: url, workspace",
            path=where,
        )
    workspace = raw.get("workspace")
    if workspace is not None and not (
        isinstance(workspace, str) and WORKSPACE_PATTERN.fullmatch(workspace)
    ):
        raise ConfigurationError(_bad_workspace(workspace), path=where, field="store.workspace")
    url = raw.get("url")
    if url is None:
        return StoreConfig(
            url=f"{_SQLITE_PREFIX}{file.parent.as_posix()}/{DEFAULT_STORE_FILENAME}",
            workspace=workspace,
        )
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            "store.url must be a non-empty string", path=where, field="store.url"
        )
    url = url.strip()
    if url.startswith(_SQLITE_PREFIX):
        db = url.removeprefix(_SQLITE_PREFIX)
        if db and db != ":memory:" and not Path(db).is_absolute():
            url = f"{_SQLITE_PREFIX}{(file.parent / db).as_posix()}"
    return StoreConfig(url=url, workspace=workspace)


def _parse_channel(raw: object, index: int, where: str) -> ChannelConfig:
    entry = f"entry {index} of [[channels]]"
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{entry} must be a table", path=where)
    name = raw.get("name")
    if name is None:
        raise ConfigurationError(f"{entry} has no 'name'", path=where, field="name")
    if not isinstance(name, str):
        raise ConfigurationError(
            f"{entry}: 'name' must be a string, not {_toml_type(name)}", path=where, field="name"
        )
    if not CHANNEL_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"{entry}: invalid channel name {name!r}; use 1 to 63 letters, digits, '_', "
            "'.' or '-', starting with a letter or digit",
            path=where,
            field="name",
        )
    for key, value in raw.items():
        if key not in _RESERVED_CHANNEL_KEYS:
            _refuse_generic_secrets(key, value, name, where)
    kind = raw.get("type")
    if kind is None:
        raise ConfigurationError(
            "missing 'type' (the channel type, e.g. 'tmall'; `channelsync plugins` lists "
            "the installed types)",
            path=where,
            channel=name,
            field="type",
        )
    if not isinstance(kind, str) or not kind.strip():
        raise ConfigurationError(
            f"'type' must be a non-empty string, not {_toml_type(kind)}",
            path=where,
            channel=name,
            field="type",
        )
    base_url = raw.get("base_url")
    if base_url is not None:
        _check_url(base_url, name, where)
    settings = {
        k: v for k, v in raw.items() if k not in _RESERVED_CHANNEL_KEYS and k not in SYNC_KEYS
    }
    try:
        sync = ChannelSyncSettings.model_validate({k: v for k, v in raw.items() if k in SYNC_KEYS})
    except pydantic.ValidationError as exc:
        loc, message = _describe_sync_error(exc)
        raise ConfigurationError(message, path=where, channel=name, field=loc) from None
    return ChannelConfig(
        name=name,
        type=kind.strip(),
        base_url=base_url,
        settings=MappingProxyType(settings),
        sync=sync,
    )


def _check_url(value: object, channel: str, where: str) -> None:
    problem = None
    if not isinstance(value, str):
        problem = f"must be a string, not {_toml_type(value)}"
    else:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            problem = f"must be an http:// or https:// URL, not {value!r}"
    if problem:
        raise ConfigurationError(problem, path=where, channel=channel, field="base_url")


def _refuse_generic_secrets(key: str, value: object, channel: str, where: str) -> None:
    if is_secret_name(key.rsplit(".", 1)[-1]):
        _refuse_secret(key, channel, where)
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            _refuse_generic_secrets(f"{key}.{inner_key}", inner, channel, where)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _refuse_generic_secrets(key, item, channel, where)


def _refuse_secret(key: str, channel: str, where: str) -> None:
    leaf = key.rsplit(".", 1)[-1]
    cred_field = leaf if is_secret_name(leaf) else key.split(".", 1)[0]
    raise ConfigurationError(
        "secrets are never read from the configuration file. Remove this key and store "
        f"the value in the system keyring with `channelsync credentials set {channel} "
        f"{cred_field}`, or in the environment variable {env_var_name(channel, cred_field)}",
        path=where,
        channel=channel,
        field=key,
    )


def _toml_type(value: object) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _names(keys: Iterable[str]) -> str:
    return ", ".join(repr(key) for key in keys)


def _plural(items: list[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


# -- resolution against installed plugins ------------------------------------------------


def resolve_channel_type(
    config: Config, channel: ChannelConfig, registry: ChannelRegistry
) -> type[Channel[Any]]:
    """Return the channel class for ``channel.type`` from the plugin registry.

    Raises :class:`~channelsync.errors.ConfigurationError` naming the type and the
    installed types, pointing at ``channelsync plugins``, when no plugin provides it.
    """
    if channel.type in registry:
        return registry.get(channel.type)
    known = ", ".join(registry.types()) or "none"
    raise ConfigurationError(
        f"unknown channel type {channel.type!r} (installed types: {known}). Install the "
        "plugin that provides it; `channelsync plugins` lists the installed plugins and "
        "any that failed to load",
        path=str(config.path),
        channel=channel.name,
        field="type",
    )


def resolve_settings(
    config: Config, channel: ChannelConfig, channel_cls: type[Channel[Any]]
) -> ChannelSettings:
    """Validate a channel's settings with its type's ``settings_model``.

    ``base_url`` is passed only when the file sets it, so a settings model's own
    default applies otherwise. A key that is one of the type's credential fields is
    refused as a secret. Validation errors become a
    :class:`~channelsync.errors.ConfigurationError` naming the file, the channel, the
    field and the problem; values of secret-looking fields are never shown.
    """
    where = str(config.path)
    secret_fields = set(channel_cls.credential_fields) | set(channel_cls.optional_credential_fields)
    for key in channel.settings:
        if key in secret_fields:
            _refuse_secret(key, channel.name, where)
    values: dict[str, Any] = dict(channel.settings)
    if channel.base_url is not None:
        values["base_url"] = channel.base_url
    model = channel_cls.settings_model
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = [_describe(error, model, secret_fields) for error in exc.errors()]
        first = problems[0]
        if len(problems) == 1:
            raise ConfigurationError(
                f"invalid setting for channel type {channel.type!r}: {first[1]}",
                path=where,
                channel=channel.name,
                field=first[0],
            ) from None
        listed = "; ".join(f"field {loc!r}: {msg}" for loc, msg in problems)
        raise ConfigurationError(
            f"{len(problems)} invalid settings for channel type {channel.type!r}: {listed}",
            path=where,
            channel=channel.name,
        ) from None


def _describe(error: Any, model: type[ChannelSettings], secret_fields: set[str]) -> tuple[str, str]:
    loc = ".".join(str(part) for part in error.get("loc", ())) or "(settings)"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(model.model_fields)) or "none"
        return loc, f"unknown setting (settings of this type: {allowed})"
    message = str(error.get("msg", "invalid value"))
    secret = any(is_secret_name(str(part)) or part in secret_fields for part in error["loc"])
    value = error.get("input")
    if not secret and kind != "missing" and isinstance(value, str | int | float | bool):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message = f"{message} (got {shown})"
    return loc, message
