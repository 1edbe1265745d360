"""Confirm the shipment of one order with a carrier and a tracking number.

The carrier is a canonical code or name (``sf``, ``顺丰``, ``UPS``); the plugin maps it to
the marketplace's own carrier code. A marketplace that answers "already shipped" is
reported as such: running the script twice never ships an order twice.

Out of the box a buyer places an order on the channel type's fake marketplace, served on
loopback, and the script ships it::

    python examples/confirm_shipment.py --channel tmall

Against a real shop (secrets from the keyring or ``CHANNELSYNC_<CHANNEL>_<FIELD>``)::

    python examples/confirm_shipment.py --config channelsync.toml --shop pdd-store \\
        --channel pinduoduo --order 240301-123456789012345 --carrier sf --tracking SF1234567890123
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from _shop import add_shop_arguments, open_shop, place_orders, run
from pydantic import ValidationError

from channelsync import (
    Carrier,
    Clock,
    ModelError,
    Shipment,
    ShipmentsCapability,
    SystemClock,
    UsageError,
    build_plugin_manager,
)

#: What the fakes get when no carrier or tracking number is given (Amazon.com ships UPS).
FAKE_SHIPPING = {"amazon": ("ups", "1Z999AA10123456784")}
DEFAULT_SHIPPING = ("sf", "SF1234567890123")


async def confirm(args: argparse.Namespace, clock: Clock) -> int:
    with open_shop(args, build_plugin_manager(), clock) as shop:
        channel = shop.channel
        if not isinstance(channel, ShipmentsCapability):
            raise UsageError(f"channel {channel.name!r} cannot confirm shipments")
        carrier, tracking = args.carrier, args.tracking
        order_id = args.order
        if shop.fake is not None:
            carrier = carrier or FAKE_SHIPPING.get(args.channel, DEFAULT_SHIPPING)[0]
            tracking = tracking or FAKE_SHIPPING.get(args.channel, DEFAULT_SHIPPING)[1]
            if order_id is None:
                (placed,) = place_orders(shop.fake, 1, channel.limits.order_window.lag)
                order_id = placed.order_id
                print(f"a buyer placed order {order_id} on the fake marketplace")
        if not (order_id and carrier and tracking):
            raise UsageError("a real shop needs --order, --carrier and --tracking")
        try:
            shipment = Shipment(
                channel=channel.name,
                order_id=order_id,
                carrier=carrier,
                tracking_number=tracking,
                shipped_at=clock.now(),
            )
        except ValidationError as error:  # e.g. a tracking number with spaces in it
            raise UsageError("; ".join(e["msg"] for e in error.errors())) from None
        code = channel.carrier_code(shipment.carrier)  # refuses a carrier it cannot map
        async with channel:
            result = await channel.push_shipment(shipment)
    outcome = "was already shipped" if result.already_shipped else "shipped"
    print(
        f"{channel.name}: order {result.order_id} {outcome} with {shipment.carrier.display_name}"
        f" ({code}) {shipment.tracking_number}"
    )
    return 0


def carrier_arg(text: str) -> Carrier:
    """Read a carrier code or name (an argument type: an unknown one is a usage error)."""
    try:
        return Carrier.parse(text)
    except ModelError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run the example; ``clock`` lets a test fix the time (default: the real clock)."""
    parser = argparse.ArgumentParser(description="Confirm the shipment of one order.")
    add_shop_arguments(parser)
    parser.add_argument("--order", help="the marketplace's order id (default: a new fake order)")
    parser.add_argument(
        "--carrier", type=carrier_arg, help="carrier code or name: sf, zto, ups, 顺丰 …"
    )
    parser.add_argument("--tracking", help="the parcel's tracking number")
    args = parser.parse_args(argv)
    return run(confirm(args, clock or SystemClock()))


if __name__ == "__main__":
    raise SystemExit(main())
