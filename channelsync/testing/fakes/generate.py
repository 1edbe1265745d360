"""Seeded catalogues and order streams for fake marketplaces."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from channelsync.clock import Clock
from channelsync.testing.fakes.state import (
    FakeItem,
    FakeOrder,
    FakeOrderLine,
    FakeSku,
    FakeStore,
)

__all__ = ["CatalogueSeed", "OrderGenerator", "SeedItem", "SeedSku", "demo_catalogue"]

_PRODUCTS = (
    ("连衣裙", "Dress"),
    ("T恤", "T-shirt"),
    ("运动鞋", "Sneakers"),
    ("保温杯", "Vacuum flask"),
    ("蓝牙耳机", "Bluetooth earbuds"),
    ("双肩包", "Backpack"),
    ("茶叶礼盒", "Tea gift box"),
    ("台灯", "Desk lamp"),
)
_VARIANTS = ("红色", "黑色", "白色", "蓝色")
_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强")
_CITIES = (
    ("浙江省", "杭州市", "西湖区"),
    ("广东省", "深圳市", "南山区"),
    ("北京市", "北京市", "朝阳区"),
    ("上海市", "上海市", "浦东新区"),
    ("四川省", "成都市", "武侯区"),
)


@dataclass(frozen=True)
class SeedSku:
    """A variant of a seed item: merchant code, price in yuan, stock."""

    merchant_code: str
    properties: str
    price: Decimal
    quantity: int


@dataclass(frozen=True)
class SeedItem:
    """A catalogue entry every fake can list: the same merchant codes on every marketplace."""

    merchant_code: str
    title: str
    price: Decimal
    skus: tuple[SeedSku, ...]


CatalogueSeed = Sequence[SeedItem]


def demo_catalogue(items: int = 8, *, skus_per_item: int = 2, quantity: int = 20) -> list[SeedItem]:
    """Return a deterministic catalogue whose merchant codes are shared by every fake.

    Merchant codes look like ``CS-0001-1``: the same code on every marketplace, so the
    engine binds them to one master SKU.
    """
    catalogue = []
    for index in range(items):
        zh, en = _PRODUCTS[index % len(_PRODUCTS)]
        base = Decimal(49 + 10 * (index % 15)) + Decimal("0.90")
        code = f"CS-{index + 1:04d}"
        skus = tuple(
            SeedSku(
                merchant_code=f"{code}-{variant + 1}",
                properties=f"颜色:{_VARIANTS[variant % len(_VARIANTS)]}",
                price=base + Decimal(variant * 5),
                quantity=quantity,
            )
            for variant in range(skus_per_item)
        )
        catalogue.append(SeedItem(code, f"{zh} {en} #{index + 1}", base, skus))
    return catalogue


class OrderGenerator:
    """Creates buyers' orders against a fake's stock, decrementing it as a marketplace does.

    A marketplace lowers its own stock the moment a buyer orders; the generator does the
    same, so a sync engine that re-pushes a stale quantity is caught re-inflating stock.
    ``order_id`` makes the marketplace's id format; ``status`` its status string for a
    new order; ``decorate`` adds marketplace-specific detail to each new order.
    """

    def __init__(
        self,
        store: FakeStore,
        clock: Clock,
        *,
        order_id: Callable[[int, datetime], str],
        status: str,
        seed: int = 0,
        max_lines: int = 2,
        max_quantity: int = 2,
        decorate: Callable[[FakeOrder], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._order_id = order_id
        self._status = status
        self._rng = random.Random(seed)  # noqa: S311 - repeatable test data, not security
        self._max_lines = max_lines
        self._max_quantity = max_quantity
        self._decorate = decorate
        self._count = 0

    def generate(self, count: int = 1) -> list[FakeOrder]:
        """Create up to ``count`` orders; fewer when the on-sale stock runs out."""
        created = []
        for _ in range(count):
            order = self._one()
            if order is None:
                break
            created.append(order)
        return created

    def _one(self) -> FakeOrder | None:
        with self._store.lock:
            candidates = [
                (item, sku)
                for item, sku in self._store.iter_skus()
                if item.on_sale and sku.quantity > 0
            ]
            if not candidates:
                return None
            now = self._clock.now()
            self._count += 1
            order_id = self._order_id(self._count, now)
            picks = self._rng.sample(candidates, min(len(candidates), self._max_lines))
            picks = picks[: self._rng.randint(1, len(picks))]
            lines = []
            for position, (item, sku) in enumerate(picks, start=1):
                quantity = min(sku.quantity, self._rng.randint(1, self._max_quantity))
                sku.quantity -= quantity
                item.modified = now
                lines.append(_line(order_id, position, item, sku, quantity))
            province, city, district = self._rng.choice(_CITIES)
            name = self._rng.choice(_NAMES)
            total = sum((line.price * line.quantity for line in lines), Decimal("0"))
            order = FakeOrder(
                order_id=order_id,
                status=self._status,
                created=now,
                modified=now,
                paid_at=now,
                lines=lines,
                total=total,
                buyer_name=f"buyer{self._rng.randint(1000, 9999)}",
                receiver_name=name,
                receiver_phone=f"138{self._rng.randint(0, 99_999_999):08d}",
                province=province,
                city=city,
                district=district,
                address=f"文三路{self._rng.randint(1, 999)}号",
            )
            if self._decorate is not None:
                self._decorate(order)
            return self._store.add_order(order)


def _line(
    order_id: str, position: int, item: FakeItem, sku: FakeSku, quantity: int
) -> FakeOrderLine:
    return FakeOrderLine(
        line_id=f"{order_id}-{position}",
        item_id=item.item_id,
        sku_id=sku.sku_id,
        merchant_code=sku.merchant_code,
        title=item.title,
        quantity=quantity,
        price=sku.price,
    )
