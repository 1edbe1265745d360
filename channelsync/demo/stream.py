"""Buyers for the demo: a steady stream of orders, and a race for one last unit.

Every few orders of the stream buy a featured listing (the demo's kit and multipack),
so a short demo shows them selling and the engine taking their components' units.

A marketplace lets an order pull read only orders older than its indexing lag (one
to five minutes, declared as ``limits.order_window.lag``); a demo of one minute
cannot wait that long. So the demo's orders carry times that far in the past, as if
the buyers had ordered a few minutes earlier; the stock still drops the moment the
order is placed, as on the real marketplace.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from channelsync.demo.marketplaces import DemoMarketplace

__all__ = ["OrderStream", "backdate", "buy"]


#: How far past the marketplace's order lag :func:`backdate` moves new orders.
BACKDATE_MARGIN = timedelta(seconds=30)


def backdate(market: DemoMarketplace, orders: Iterable[Any]) -> None:
    """Move new orders' times back past the marketplace's order lag (plus a margin)."""
    shift = market.order_lag + BACKDATE_MARGIN
    with market.fake.store.lock:
        for order in orders:
            order.created -= shift
            order.modified -= shift
            if order.paid_at is not None:
                order.paid_at -= shift


def buy(market: DemoMarketplace, merchant_code: str) -> bool:
    """Have a buyer order one unit of ``merchant_code`` on ``market``, if it shows any.

    The marketplace's own order generator places the order (its id format, status and
    stock decrement); every other SKU is hidden from it meanwhile, under the fake's
    lock, so no request sees the difference.
    """
    fake: Any = market.fake
    store = fake.store
    with store.lock:
        hidden = {}
        for _item, sku in store.iter_skus():
            if sku.merchant_code != merchant_code:
                hidden[id(sku)] = (sku, sku.quantity)
                sku.quantity = 0
        try:
            placed = fake.generate_orders(1)
        finally:
            for sku, quantity in hidden.values():
                sku.quantity = quantity
        backdate(market, placed)
    return bool(placed)


class OrderStream:
    """Places orders on randomly chosen marketplaces at a steady rate (seeded: repeatable).

    With ``featured`` merchant codes, every ``featured_every``-th order buys one of them
    in turn, on a marketplace showing it; when none does, that order is an ordinary one.
    """

    def __init__(
        self,
        markets: Sequence[DemoMarketplace],
        *,
        rate: float,
        seed: int = 0,
        featured: Sequence[str] = (),
        featured_every: int = 5,
    ) -> None:
        if featured_every < 1:
            raise ValueError(f"featured_every must be at least 1, not {featured_every}")
        self.markets = list(markets)
        self.rate = rate
        self.featured = list(featured)
        self.featured_every = featured_every
        self._rng = random.Random(seed)  # noqa: S311 - repeatable demo data, not security
        self._owed = 0.0
        self._turn = 0
        self._due = 0  # orders come to, placed or not: every featured_every-th is featured
        self.placed = 0
        self.featured_placed: dict[str, int] = dict.fromkeys(self.featured, 0)

    def tick(self, seconds: float) -> int:
        """Place the orders due after ``seconds`` more; return how many were placed."""
        self._owed += seconds * self.rate
        placed = 0
        while self._owed >= 1 and self.markets:
            self._owed -= 1
            if self._buy_featured():
                placed += 1
                continue
            market = self._rng.choice(self.markets)
            fake: Any = market.fake
            orders = fake.generate_orders(1)
            backdate(market, orders)
            placed += len(orders)
        self.placed += placed
        return placed

    def _buy_featured(self) -> bool:
        """Buy the next featured listing when this order's turn is one; whether it did."""
        self._due += 1
        if not self.featured or self._due % self.featured_every:
            return False
        code = self.featured[self._turn % len(self.featured)]
        self._turn += 1
        showing = [m for m in self.markets if m.stock().get(code, 0) > 0]
        if not showing:
            return False
        if not buy(self._rng.choice(showing), code):
            return False
        self.featured_placed[code] += 1
        return True
