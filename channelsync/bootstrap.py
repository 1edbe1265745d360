"""The composition root: configuration + plugins + credentials + transport → channels.

The CLI, the daemon and SDK users who keep a ``channelsync.toml`` all build their
channels here, so a channel is wired the same way everywhere. Code that does not
use a config file can construct a plugin's channel class directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from channelsync.channels import Channel
from channelsync.clock import Clock
from channelsync.config import (
    ChannelConfig,
    Config,
    load_config,
    resolve_channel_type,
    resolve_settings,
)
from channelsync.credentials import CredentialStore
from channelsync.engine.sourcing import unknown_sources
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ConfigurationError
from channelsync.http import TransportMetrics
from channelsync.plugins import PluginHost, build_plugin_manager
from channelsync.store import Store, open_store

__all__ = [
    "build_channel",
    "build_channels",
    "build_engine",
    "check_warehouses",
    "load_channels",
    "open_state",
]


def open_state(config: Config, *, create: bool = False) -> Store:
    """Open the state store the configuration names (creating and migrating it as needed).

    The workspace is the config's ``[store] workspace`` (which ``--workspace`` sets),
    else the store's only one; a named workspace that does not exist is created only
    with ``create`` (``store migrate``, ``workspaces create``) and refused otherwise.
    """
    return open_store(config.store, create=create)


def build_channel(
    config: Config,
    entry: ChannelConfig,
    *,
    host: PluginHost,
    credentials: CredentialStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    metrics: TransportMetrics | None = None,
    require_credentials: bool = True,
) -> Channel[Any]:
    """Build one configured channel (not yet open: use ``async with``).

    Raises :class:`~channelsync.errors.ConfigurationError` for an unknown type or bad
    settings and :class:`~channelsync.errors.MissingCredentialError` for a required
    secret that is set nowhere, before any request is made. Without
    ``require_credentials`` no secret is read: for commands that only read the store
    (``status``, ``plan``), which must work where no secret is available.
    """
    channel_cls = resolve_channel_type(config, entry, host.registry)
    settings = resolve_settings(config, entry, channel_cls)
    store = credentials if credentials is not None else CredentialStore()
    if require_credentials:
        for field in channel_cls.credential_fields:
            store.require(entry.name, field)
    return channel_cls(
        entry.name,
        settings,
        store.for_channel(entry.name, channel_cls.all_credential_fields()),
        transport=transport,
        clock=clock,
        metrics=metrics,
    )


def load_channels(
    config_path: str | Path | None = None,
    *,
    names: Iterable[str] | None = None,
    host: PluginHost | None = None,
    credentials: CredentialStore | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
    metrics: TransportMetrics | None = None,
) -> list[Channel[Any]]:
    """Build the channels of a config file (all of them, or those in ``names``).

    ``transports`` maps a channel name to a transport to use instead of the network
    (a fake marketplace in tests).
    """
    config = load_config(config_path)
    host = host or build_plugin_manager()
    entries = [config.channel(n) for n in names] if names is not None else list(config.channels)
    transports = transports or {}
    return [
        build_channel(
            config,
            entry,
            host=host,
            credentials=credentials,
            transport=transports.get(entry.name),
            clock=clock,
            metrics=metrics,
        )
        for entry in entries
    ]


def build_engine(
    config: Config,
    store: Store,
    *,
    host: PluginHost | None = None,
    channels: Iterable[Channel[Any]] | None = None,
    credentials: CredentialStore | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
) -> SyncEngine:
    """Wire the sync engine: the config's channels (or ``channels``), the store and the hooks.

    ``channels`` replaces channels of the same name (in-process channels in tests);
    every other configured channel is built from the config as :func:`build_channel` does.
    A channel fed from a warehouse the store keeps no stock in is refused first
    (:func:`check_warehouses`).
    """
    check_warehouses(config, store)
    host = host or build_plugin_manager()
    built = build_channels(
        config,
        host=host,
        channels=channels,
        credentials=credentials,
        transports=transports,
        clock=clock,
    )
    return SyncEngine.from_config(config, store, built, host=host, clock=clock)


def build_channels(
    config: Config,
    *,
    host: PluginHost,
    channels: Iterable[Channel[Any]] | None = None,
    credentials: CredentialStore | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
    require_credentials: bool = True,
) -> list[Channel[Any]]:
    """Build every configured channel (``channels`` replace those of the same name).

    Commands build them before they open the store, so a configuration that cannot
    work (an unknown type, bad settings, a missing secret) changes nothing on disk.
    """
    given = {channel.name: channel for channel in channels or ()}
    transports = transports or {}
    return [
        given.get(entry.name)
        or build_channel(
            config,
            entry,
            host=host,
            credentials=credentials,
            transport=transports.get(entry.name),
            clock=clock,
            require_credentials=require_credentials,
        )
        for entry in config.channels
    ]


def check_warehouses(config: Config, store: Store, *, adding: Iterable[str] = ()) -> None:
    """Refuse a configuration whose channel is fed from a warehouse that holds no stock.

    The warehouses known are those the store keeps stock in, and ``adding`` (those a
    catalogue about to be imported brings). While none is known (no stock yet) nothing
    is checked. Raises :class:`~channelsync.errors.ConfigurationError` naming each
    channel and warehouse; nothing is changed.
    """
    with store.transaction() as session:
        known = {*session.warehouses(), *adding}
    if not known:
        return
    problems = unknown_sources({entry.name: entry.sync for entry in config.channels}, known)
    if problems:
        listed = "; ".join(problem.message for problem in problems)
        raise ConfigurationError(
            f"{listed}. Fix the name, or import the warehouse's stock first "
            "(`channelsync catalogue import`)",
            path=str(config.path),
            field="warehouses",
        )
