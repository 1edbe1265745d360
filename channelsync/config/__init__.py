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

* ``[store]``, ``[engine]``, ``[daemon]``, ``[console]``, ``[workers]`` and
  ``[[channels]]`` are the only top-level entries; anything else is refused by name.
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
nothing. The checked tables are in :mod:`~channelsync.config.models`, the rules for
secrets in :mod:`~channelsync.config.secrets`, and a channel's plugin settings are
resolved by :mod:`~channelsync.config.resolving`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pydantic

from channelsync.config.models import (
    SYNC_KEYS,
    Campaign,
    ChannelSyncSettings,
    DaemonConfig,
    EngineConfig,
    PriceRule,
    WorkersConfig,
)
from channelsync.config.resolving import resolve_channel_type, resolve_settings
from channelsync.config.secrets import is_secret_name, refuse_generic_secrets
from channelsync.console.settings import ConsoleSettings, parse_console
from channelsync.errors import ConfigurationError

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
    "WorkersConfig",
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
    workers: WorkersConfig = field(default_factory=WorkersConfig)

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
    engine = _parse_table(data.get("engine", {}), where, "engine", EngineConfig)
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
    workers = _parse_table(data.get("workers", {}), where, "workers", WorkersConfig)
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


_Table = TypeVar("_Table", EngineConfig, WorkersConfig)


def _parse_table(raw: object, where: str, name: str, model: type[_Table]) -> _Table:
    """Check a top-level table (``[engine]``, ``[workers]``) with its model."""
    if not isinstance(raw, dict):
        raise ConfigurationError(f"'{name}' must be a table, written as [{name}]", path=where)
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        loc, message = _describe_sync_error(exc)
        raise ConfigurationError(message, path=where, field=f"{name}.{loc}") from None


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
            refuse_generic_secrets(key, value, name, where)
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
