"""What every contract check shares: the :class:`Promise` base and the common steps.

A step reads through the channel where it can (listings, pulls) and falls back to
the fake's own records where the channel has no way to read them.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from channelsync.channels import Capability
from channelsync.channels.windows import PullCursor
from channelsync.models import Listing, StockUpdate
from channelsync.testing.contract.harness import ContractHarness

__all__ = [
    "Promise",
    "Target",
    "any_read",
    "first_cursor",
    "generate_rounds",
    "generate_spread",
    "pick_targets",
    "read_listings",
    "read_stock",
    "stock_update",
]

_ROUNDS = 3
_ORDERS_PER_ROUND = 12
_ROUND_GAP = timedelta(minutes=10)


class Promise(abc.ABC):
    """One promise a channel makes; subclasses state it in their docstring."""

    #: The capability the promise belongs to (``None``: every channel).
    capability: ClassVar[Capability | None] = None
    #: How a plugin usually breaks it, and what to change.
    fix: ClassVar[str] = ""

    @classmethod
    def statement(cls) -> str:
        """Return the promise: the first paragraph of the docstring."""
        return (cls.__doc__ or cls.__name__).strip().split("\n\n")[0].replace("\n", " ")

    @classmethod
    def applies_to(cls, capabilities: frozenset[Capability]) -> bool:
        """Return whether a channel with ``capabilities`` makes this promise."""
        return cls.capability is None or cls.capability in capabilities

    @abc.abstractmethod
    async def check(self, h: ContractHarness) -> None:
        """Raise :class:`ContractViolation` when the channel breaks the promise."""


# -- shared steps ---------------------------------------------------------------------


async def read_listings(channel: Any) -> list[Listing]:
    """Return every listing the channel reads (all pages)."""
    return [listing async for listing in channel.iter_listings()]


@dataclass(frozen=True)
class Target:
    """A SKU to write to, as the channel names it."""

    item_id: str
    sku_id: str | None
    merchant_code: str | None
    currency: str

    @property
    def key(self) -> tuple[str, str | None]:
        """``(item_id, sku_id)``, as :attr:`Listing.key`."""
        return (self.item_id, self.sku_id)


async def pick_targets(h: ContractHarness, channel: Any, count: int) -> list[Target]:
    """Return SKUs to write to: read through listings, or from the fake's own records."""
    if channel.supports(Capability.LISTINGS):
        found = [
            Target(
                listing.item_id,
                listing.sku_id,
                listing.merchant_code,
                listing.price.currency if listing.price is not None else "CNY",
            )
            for listing in await read_listings(channel)
        ]
    else:
        found = [
            Target(item.item_id, sku.sku_id, sku.merchant_code, "CNY")
            for item, sku in h.fake.store.iter_skus()
        ]
    h.expect(bool(found), "the fake's seeded catalogue has no SKUs to write to")
    return found[:count]


async def read_stock(h: ContractHarness, channel: Any) -> dict[tuple[str, str | None], int | None]:
    """Return each SKU's quantity: as the channel reads it, or from the fake's records."""
    if channel.supports(Capability.LISTINGS):
        return {listing.key: listing.quantity for listing in await read_listings(channel)}
    return {(item.item_id, sku.sku_id): sku.quantity for item, sku in h.fake.store.iter_skus()}


def generate_spread(h: ContractHarness) -> list[str]:
    """Generate orders in rounds a few minutes apart; return their ids."""
    return generate_rounds(h, [_ORDERS_PER_ROUND] * _ROUNDS)


def generate_rounds(h: ContractHarness, sizes: Sequence[int]) -> list[str]:
    """Generate ``sizes[i]`` orders in round ``i``, rounds minutes apart; return their ids.

    The clock ends past the channel's horizon, so every order is inside a readable window.
    """
    ids: list[str] = []
    for size in sizes:
        made = [order.order_id for order in h.generate_orders(size)]
        h.expect(
            len(made) == size,
            f"the fake generated {len(made)} of {size} orders (is its catalogue seeded with "
            "enough stock?)",
        )
        ids.extend(made)
        h.advance(_ROUND_GAP.total_seconds())
    h.past_the_horizon()
    return ids


def first_cursor(h: ContractHarness) -> PullCursor:
    """Return the cursor every check's first pull starts from: an hour before the start."""
    return PullCursor(since=h.start - timedelta(hours=1))


async def any_read(channel: Any) -> None:
    """Make one read call through whichever read capability the channel has."""
    if channel.supports(Capability.LISTINGS):
        await read_listings(channel)
    elif channel.supports(Capability.ORDERS):
        await channel.pull_orders(PullCursor(since=channel.clock.now() - timedelta(hours=1)))
    else:  # pragma: no cover - a channel with neither has nothing to read
        raise AssertionError("channel has no read capability")


def stock_update(target: Target, quantity: int) -> StockUpdate:
    """Return an absolute stock update of ``target`` to ``quantity``."""
    return StockUpdate(
        item_id=target.item_id,
        sku_id=target.sku_id,
        merchant_code=target.merchant_code,
        quantity=quantity,
    )
