"""Set stock on one channel from a ``sku,quantity`` CSV file.

Each ``sku`` is the merchant's own code on the listing (Tmall/PDD ``outer_id``, JD
``outerId``, Amazon seller SKU): the script reads the shop's listings to find them, then
sends absolute quantities in the channel's batch size and prints one result per SKU.
A file with any bad row is refused whole (every problem named by row and field) and
nothing is sent.

Out of the box it sets stock on the channel type's fake marketplace, served on loopback,
from ``stock.csv`` next to this script::

    python examples/set_stock_from_csv.py --channel pinduoduo

Against a real shop (secrets from the keyring or ``CHANNELSYNC_<CHANNEL>_<FIELD>``)::

    python examples/set_stock_from_csv.py counts.csv --config channelsync.toml --shop tmall-flagship
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from _shop import add_shop_arguments, open_shop, run

from channelsync import (
    Clock,
    InventoryCapability,
    ListingsCapability,
    Operation,
    StockUpdate,
    UpdateResult,
    UsageError,
    build_plugin_manager,
)
from channelsync.engine import InputError, Problem

EXAMPLE_CSV = Path(__file__).with_name("stock.csv")


def read_counts(path: Path) -> dict[str, int]:
    """Return quantity per merchant code; raise ``InputError`` listing every bad row."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(source, [Problem(f"cannot read the file: {error}")]) from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in ("sku", "quantity") if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(source, [Problem("missing column", row=1, field=c) for c in missing])
    counts: dict[str, int] = {}
    problems: list[Problem] = []
    for row, record in enumerate(reader, start=2):  # the header is row 1
        code, quantity = (record.get("sku") or "").strip(), (record.get("quantity") or "").strip()
        if not code:
            problems.append(Problem("empty merchant code", row=row, field="sku"))
        elif code in counts:
            problems.append(Problem(f"{code!r} appears twice", row=row, field="sku"))
        if not quantity.isdigit():
            problems.append(
                Problem(f"{quantity!r} is not a whole number >= 0", row=row, field="quantity")
            )
        elif code:
            counts[code] = int(quantity)
    if problems:
        raise InputError(source, problems)
    return counts


def show(code: str, quantity: int, result: UpdateResult | None) -> None:
    """Print one SKU's outcome."""
    if result is None:
        print(f"  {code:<14} {quantity:>5}  FAILED: no listing with this merchant code")
    elif result.error is not None:
        print(f"  {code:<14} {quantity:>5}  FAILED: {result.error.message}")
    else:
        print(f"  {code:<14} {quantity:>5}  ok")


async def push(args: argparse.Namespace, counts: dict[str, int], clock: Clock | None) -> int:
    with open_shop(args, build_plugin_manager(), clock) as shop:
        channel = shop.channel
        if not (
            isinstance(channel, InventoryCapability) and isinstance(channel, ListingsCapability)
        ):
            raise UsageError(f"channel {channel.name!r} cannot read listings and set stock")
        async with channel:
            listings = {
                listing.merchant_code: listing
                async for listing in channel.iter_listings()
                if listing.merchant_code in counts
            }
            updates = [
                StockUpdate(
                    item_id=listing.item_id,
                    sku_id=listing.sku_id,
                    merchant_code=code,
                    quantity=counts[code],
                )
                for code, listing in listings.items()
            ]
            results = await channel.set_stock(updates)  # split into the channel's batch size
    size = channel.limits.batch_size(Operation.SET_STOCK)
    print(f"{channel.name}: {len(updates)} update(s) sent in batches of up to {size}")
    by_code = {result.merchant_code: result for result in results}
    for code, quantity in counts.items():
        show(code, quantity, by_code.get(code))
    failed = [code for code in counts if code not in by_code or not by_code[code].ok]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run the example; ``clock`` lets a test fix the time (default: the real clock)."""
    parser = argparse.ArgumentParser(description="Set stock on one channel from a CSV file.")
    parser.add_argument("csv", nargs="?", type=Path, default=EXAMPLE_CSV, help="sku,quantity")
    add_shop_arguments(parser)
    args = parser.parse_args(argv)
    try:
        counts = read_counts(args.csv)
    except InputError as error:
        print(f"{error.source}: nothing was sent", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return run(push(args, counts, clock))


if __name__ == "__main__":
    raise SystemExit(main())
