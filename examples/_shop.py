"""What the example scripts share: open one channel, on a fake marketplace or a real shop.

Out of the box a script serves the channel type's own fake marketplace on loopback
(``fake.serve()``), so every call goes through the plugin's real transport, signing and
paging. Given ``--config channelsync.toml`` it opens a configured channel instead; its
secrets come from ``CHANNELSYNC_<CHANNEL>_<FIELD>`` variables or the system keyring
(``channelsync credentials set``), never from the file, and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channelsync import Channel, ChannelSyncError, Clock, PluginHost, build_channel, load_config
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import ConfigurationError, CredentialError, UsageError
from channelsync.testing.fakes import FakeMarketplace

#: The channel types whose plugin ships a fake marketplace to run the examples against.
DEMO_TYPES = ("tmall", "jd", "pinduoduo", "amazon")


@dataclass
class Shop:
    """An unopened channel, and the fake marketplace behind it (``None`` for a real shop)."""

    channel: Channel[Any]
    fake: FakeMarketplace | None


def add_shop_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--channel``, ``--config`` and ``--shop`` to a script's arguments."""
    parser.add_argument("--channel", choices=DEMO_TYPES, default="tmall", help="channel type")
    parser.add_argument("--config", help="channelsync.toml of a real shop (default: a fake one)")
    parser.add_argument(
        "--shop", help="channel name in --config (default: the first of type --channel)"
    )


def start_fake(channel_cls: type[Channel[Any]], clock: Clock | None) -> FakeMarketplace:
    """Return the plugin's demo fake: the shared demo catalogue, accepting demo credentials."""
    if channel_cls.demo_module is None:
        raise UsageError(f"channel type {channel_cls.type_name!r} ships no fake marketplace")
    module = importlib.import_module(channel_cls.demo_module)
    fake: FakeMarketplace = module.demo_fake(clock=clock)
    return fake


@contextmanager
def open_shop(args: argparse.Namespace, host: PluginHost, clock: Clock | None) -> Iterator[Shop]:
    """Yield the channel the arguments name; a served fake is stopped on the way out."""
    if args.config is not None:
        config = load_config(args.config)
        wanted = [e for e in config.channels if e.type == args.channel]
        if args.shop is None and not wanted:
            raise ConfigurationError(f"{args.config}: no channel of type {args.channel!r}")
        entry = config.channel(args.shop) if args.shop is not None else wanted[0]
        yield Shop(build_channel(config, entry, host=host, clock=clock), None)
        return
    channel_cls = host.registry.get(args.channel)
    module = importlib.import_module(str(channel_cls.demo_module))
    fake = start_fake(channel_cls, clock)
    server = fake.serve()
    name = f"{args.channel}-example"
    # The fake's demo secrets live in memory only: nothing reads or writes the keyring.
    secrets = MemorySecretBackend({(name, k): v for k, v in module.DEMO_CREDENTIALS.items()})
    settings = channel_cls.settings_model.model_validate(
        {**module.DEMO_SETTINGS, "base_url": server.url}
    )
    credentials = CredentialStore(backend=secrets, environ={})
    try:
        yield Shop(
            channel_cls(
                name,
                settings,
                credentials.for_channel(name, channel_cls.all_credential_fields()),
                clock=clock,
            ),
            fake,
        )
    finally:
        server.stop()


def place_orders(fake: FakeMarketplace, count: int, lag: timedelta) -> list[Any]:
    """Have buyers place ``count`` orders on a fake, dated just before its indexing lag.

    A marketplace only lets an order pull read orders older than its lag; the orders are
    dated that far back (plus a minute) so a pull made right now sees them.
    """
    placed: list[Any] = fake.generate_orders(count)  # type: ignore[attr-defined]
    shift = lag + timedelta(minutes=1)
    with fake.store.lock:
        for order in placed:
            order.created -= shift
            order.modified -= shift
            if order.paid_at is not None:
                order.paid_at -= shift
    return placed


def run(work: Coroutine[Any, Any, int]) -> int:
    """Run a script's work; a channelsync error is one line on stderr, not a traceback."""
    try:
        return asyncio.run(work)
    except (ConfigurationError, CredentialError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ChannelSyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
