"""The demo's kit and multipack, the components they are made of, and what they show.

A tea gift set (one teapot and four cups) and a pack of three cups are listed beside the
teapot and the cup themselves (on the marketplaces of
:data:`~channelsync.demo.marketplaces.KIT_MARKETPLACES`). Neither holds stock: the
engine shows each the number its components make, and a buyer's kit takes the
components' units. :func:`kit_rows` reads, at one moment, what the components make and
what each marketplace shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from channelsync.engine.composition import kit_availability
from channelsync.store import Store
from channelsync.testing.fakes import SeedItem, SeedSku

if TYPE_CHECKING:
    from channelsync.demo.marketplaces import DemoMarketplace

__all__ = [
    "COMPONENT_ITEMS",
    "KITS",
    "TIMES",
    "DemoKit",
    "KitRow",
    "components_text",
    "kit_items",
    "kit_rows",
    "kits_sold",
]


@dataclass(frozen=True)
class DemoKit:
    """A kit of the demo catalogue: its listing and the units of each component one takes."""

    code: str
    item: str
    """The merchant code of the item (product) listing it."""
    title: str
    price: Decimal
    components: tuple[tuple[str, int], ...]

    @property
    def kind(self) -> str:
        """``multipack`` for a kit of one component, else ``kit``."""
        return "multipack" if len(self.components) == 1 else "kit"


#: The stock SKUs the kits are made of, listed on every marketplace too.
COMPONENT_ITEMS: tuple[SeedItem, ...] = (
    SeedItem(
        "CS-0101",
        "紫砂茶壶 Teapot",
        Decimal("129.90"),
        (SeedSku("TEAPOT", "材质:紫砂", Decimal("129.90"), 20),),
    ),
    SeedItem(
        "CS-0102",
        "白瓷茶杯 Tea cup",
        Decimal("19.90"),
        (SeedSku("CUP", "颜色:白色", Decimal("19.90"), 60),),
    ),
)

#: The gift set and the multipack.
KITS: tuple[DemoKit, ...] = (
    DemoKit(
        "GIFT",
        "CS-0103",
        "茶具礼盒 Tea gift set (1 teapot, 4 cups)",
        Decimal("199.00"),
        (("TEAPOT", 1), ("CUP", 4)),
    ),
    DemoKit("CUP-3", "CS-0104", "茶杯三只装 Tea cups, pack of 3", Decimal("55.90"), (("CUP", 3),)),
)


#: The multiplication sign between a component's code and the units one kit takes.
TIMES = "\N{MULTIPLICATION SIGN}"


def components_text(components: Sequence[tuple[str, int]]) -> str:
    """Return each component's code, the sign and the units one kit takes, joined by ``+``."""
    return " + ".join(f"{code}{TIMES}{quantity}" for code, quantity in components)


def _makes(kit: DemoKit, stock: Mapping[str, int]) -> int:
    return min(stock.get(code, 0) // quantity for code, quantity in kit.components)


def kit_items(stock: Mapping[str, int] | None = None) -> list[SeedItem]:
    """Return the kits as items a fake lists, each showing what ``stock`` of its parts makes.

    ``stock`` is the units of each component (default: the components' seed stock).
    """
    if stock is None:
        stock = {sku.merchant_code: sku.quantity for item in COMPONENT_ITEMS for sku in item.skus}
    return [
        SeedItem(
            kit.item,
            kit.title,
            kit.price,
            (SeedSku(kit.code, components_text(kit.components), kit.price, _makes(kit, stock)),),
        )
        for kit in KITS
    ]


@dataclass(frozen=True)
class KitRow:
    """A kit at one moment: what its components make, and what each channel shows of it."""

    code: str
    kind: str
    components: str
    makes: int
    """How many its components' available units make (``kit_availability``)."""
    shown: Mapping[str, int | None]
    """Per channel, the quantity its marketplace shows (``None``: not listed there)."""


def kit_rows(store: Store, markets: Sequence[DemoMarketplace]) -> list[KitRow]:
    """Return a row per kit of the store: what its components make and what each market shows."""
    with store.transaction() as session:
        ids = session.kit_ids()
        parts = session.components_of(ids)
        makes = kit_availability(session, ids)
        codes = {sku.id: sku.merchant_code for sku in session.skus_by_id(ids).values()}
    shown = {market.channel: market.stock() for market in markets}
    rows = []
    for kit_id in sorted(parts, key=lambda i: codes.get(i, "")):
        code = codes.get(kit_id)
        if code is None:
            continue
        components = [(c.merchant_code, c.quantity) for c in parts[kit_id]]
        rows.append(
            KitRow(
                code=code,
                kind="multipack" if len(components) == 1 else "kit",
                components=components_text(components),
                makes=makes.get(kit_id, 0),
                shown={channel: stock.get(code) for channel, stock in shown.items()},
            )
        )
    return rows


def kits_sold(markets: Sequence[DemoMarketplace], codes: Sequence[str]) -> dict[str, int]:
    """Return the units of each of ``codes`` buyers ordered on ``markets``."""
    sold = dict.fromkeys(codes, 0)
    for market in markets:
        with market.fake.store.lock:
            for order in market.fake.store.orders.values():
                for line in order.lines:
                    if line.merchant_code in sold:
                        sold[line.merchant_code] += line.quantity
    return sold
