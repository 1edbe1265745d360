"""Plan the prices of one channel through a custom price rule plugin, without sending them.

The rule (``channelsync_price_rule.MarkupRule``: +5% and a ``.99`` ending) is registered
with the plugin manager directly; the sync engine then binds the catalogue to the
shop's listings by merchant code and plans what it would publish. Nothing is sent: the
plan is worked out in a throwaway state store.

Out of the box the shop is the channel type's fake marketplace, served on loopback::

    python examples/custom_price_rule/plan_prices.py --channel tmall
    python examples/custom_price_rule/plan_prices.py --channel jd --rule-for tmall  # unchanged

Against a real shop (it only reads listings; secrets from the keyring or the
environment)::

    python examples/custom_price_rule/plan_prices.py --config channelsync.toml \\
        --shop tmall-flagship --catalogue my-catalogue.csv
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from channelsync_price_rule import MarkupRule

from channelsync import Clock, Money, SystemClock, build_plugin_manager
from channelsync.engine import CatalogueRow, InputError, import_catalogue, read_catalogue_file
from channelsync.engine.sync import SyncEngine
from channelsync.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the examples' _shop module
from _shop import add_shop_arguments, open_shop, run

EXAMPLE_CATALOGUE = Path(__file__).with_name("catalogue.csv")


async def plan(args: argparse.Namespace, rows: list[CatalogueRow], clock: Clock) -> int:
    catalogue = {row.sku: row.price for row in rows}
    rule = MarkupRule(args.rule_for or args.channel, markup=args.markup / 100)
    # The installed copy of this plugin (if any) is blocked: this script's rule decides.
    host = build_plugin_manager(extra_plugins=[rule], blocked=["example-price-rule"])
    with open_shop(args, host, clock) as shop, tempfile.TemporaryDirectory() as scratch:
        store = open_store(f"sqlite:///{scratch}/plan.db")
        try:
            import_catalogue(store, rows, now=clock.now())
            engine = SyncEngine(store, [shop.channel], host=host, clock=clock)
            (bound,) = await engine.bind()  # reads the listings, matches merchant codes
            planned = [e for e in engine.plan()[shop.channel.name] if e["kind"] == "price"]
        finally:
            store.close()
    print(f"{shop.channel.name}: {bound.bound} listing(s) bound; rule: {rule!r}")
    prices = {e["merchant_code"]: Money.of(e["amount"], e["currency"]) for e in planned}
    for code, price in sorted(prices.items()):
        print(f"  {code:<14} {catalogue[code]!s:>12} -> {price!s:>12}")
    return 0


def percent(text: str) -> Decimal:
    """Read a markup in percent (an argument type)."""
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run the example; ``clock`` lets a test fix the time (default: the real clock)."""
    parser = argparse.ArgumentParser(description="Plan one channel's prices through a rule.")
    add_shop_arguments(parser)
    parser.add_argument("--catalogue", type=Path, default=EXAMPLE_CATALOGUE, help="CSV or JSON")
    parser.add_argument("--rule-for", help="channel name or type the rule marks up")
    parser.add_argument("--markup", type=percent, default=Decimal(5), help="percent (5)")
    args = parser.parse_args(argv)
    try:
        rows = read_catalogue_file(args.catalogue)
    except InputError as error:
        print(f"{error.source}: nothing was planned", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return run(plan(args, rows, clock or SystemClock()))


if __name__ == "__main__":
    raise SystemExit(main())
