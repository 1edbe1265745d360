"""Pull today's orders from one channel and print them.

"Today" is the marketplace's day: midnight to now in GMT+8 on Tmall, JD and Pinduoduo,
US Pacific time on Amazon.com (``--timezone`` for another Amazon marketplace).

Out of the box this serves the channel type's fake marketplace on loopback, has a few
buyers order there, and pulls through the plugin's real transport and signing::

    python examples/pull_todays_orders.py --channel jd

Against a real shop, point it at your configuration (secrets stay in the keyring or in
``CHANNELSYNC_<CHANNEL>_<FIELD>`` variables; nothing secret is printed)::

    python examples/pull_todays_orders.py --config channelsync.toml --shop jd-pop --channel jd

A marketplace only lets a pull read orders older than its indexing lag (one to five
minutes), so the newest orders show up on the next run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from _shop import add_shop_arguments, open_shop, place_orders, run

from channelsync import (
    Clock,
    Order,
    OrdersCapability,
    PullCursor,
    SystemClock,
    UsageError,
    build_plugin_manager,
)
from channelsync.clock import CHINA_STANDARD_TIME

MARKETPLACE_TIME: dict[str, tzinfo] = {
    "tmall": CHINA_STANDARD_TIME,
    "jd": CHINA_STANDARD_TIME,
    "pinduoduo": CHINA_STANDARD_TIME,
    "amazon": ZoneInfo("America/Los_Angeles"),
}


async def todays_orders(channel: OrdersCapability, tz: tzinfo) -> list[Order]:
    """Return the orders placed since midnight on the marketplace's clock, oldest first."""
    now = await channel.marketplace_now()
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    cursor = PullCursor.starting_at(midnight)
    found: dict[str, Order] = {}
    while True:
        pull = await channel.pull_orders(cursor)
        for order in pull.orders:
            # A pull reads orders *modified* in its window (and reaches back by an overlap):
            # keep those *placed* today, newest version of each.
            if order.created_at >= midnight:
                found[order.order_id] = order
        cursor = pull.cursor
        if pull.caught_up:
            return sorted(found.values(), key=lambda o: (o.created_at, o.order_id))


def show(order: Order, tz: tzinfo) -> None:
    """Print one order: id, time, status, total and its lines."""
    placed = order.created_at.astimezone(tz).strftime("%H:%M")
    print(f"{order.order_id}  {placed}  {order.status.value:<18} {order.total}")
    for line in order.lines:
        code = line.merchant_code or line.sku_id or line.item_id
        print(f"    {line.quantity} x {code:<12} {line.unit_price}  {line.title or ''}")


async def pull(args: argparse.Namespace, clock: Clock) -> int:
    tz = MARKETPLACE_TIME[args.channel] if args.timezone is None else args.timezone
    with open_shop(args, build_plugin_manager(), clock) as shop:
        channel = shop.channel
        if not isinstance(channel, OrdersCapability):
            raise UsageError(f"channel {channel.name!r} cannot pull orders")
        if shop.fake is not None:
            place_orders(shop.fake, args.place, channel.limits.order_window.lag)
        async with shop.channel:
            orders = await todays_orders(channel, tz)
    day = clock.now().astimezone(tz).date()
    print(f"{len(orders)} order(s) placed on {channel.name} on {day} ({tz})")
    for order in orders:
        show(order, tz)
    return 0


def zone(name: str) -> tzinfo:
    """Read an IANA time zone name (an argument type: a bad name is a usage error)."""
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise argparse.ArgumentTypeError(f"unknown time zone {name!r}") from None


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run the example; ``clock`` lets a test fix the time (default: the real clock)."""
    parser = argparse.ArgumentParser(description="Pull today's orders from one channel.")
    add_shop_arguments(parser)
    parser.add_argument("--timezone", type=zone, help="zone of the marketplace day: Europe/Berlin")
    parser.add_argument("--place", type=int, default=3, help="orders buyers place on a fake")
    args = parser.parse_args(argv)
    return run(pull(args, clock or SystemClock()))


if __name__ == "__main__":
    raise SystemExit(main())
