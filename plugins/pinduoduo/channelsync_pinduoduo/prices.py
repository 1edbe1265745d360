"""SKU prices: read a goods or a SKU at a time, and kept briefly for the price writes.

The goods list carries no prices. A listing scan reads them with one
``pdd.goods.information.get`` per goods (every SKU's group (拼单) and single-buy
prices, as yuan strings); a read of chosen SKUs (the re-inflation guard's) uses
``pdd.goods.skus.get``, one SKU per call (fen), and reads no SKU nobody asked for.
A price write needs each SKU's current single-buy price (it keeps the gap above the
group price): it reuses what a read of the last :data:`PRICE_READ_REUSE` found, or
what it wrote itself, and reads the goods once otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from channelsync.clock import Clock
from channelsync.errors import ChannelError, DataError, ModelError
from channelsync.models import Listing, Money, PriceChange, UpdateResult
from channelsync_pinduoduo._calls import is_item_error, json_id
from channelsync_pinduoduo.mapping import fen_to_money, field, money_to_fen, yuan

__all__ = [
    "GOODS_INFO_METHOD",
    "PRICE_READ_REUSE",
    "SKU_METHOD",
    "PddPriceReads",
    "PriceCommit",
    "PriceMemo",
    "SkuPrices",
    "plan_commit",
    "sku_prices_from_info",
    "sku_prices_from_sku",
    "with_prices",
]

GOODS_INFO_METHOD = "pdd.goods.information.get"
SKU_METHOD = "pdd.goods.skus.get"

#: How long a price read stands in for a fresh one before a price write. Long enough to
#: span a first cycle (listings scanned, orders and refunds pulled, then prices sent),
#: short enough that a single-buy price edited by hand since is read again.
PRICE_READ_REUSE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SkuPrices:
    """One SKU's group (拼单) and single-buy prices, in whole fen."""

    group: int
    single: int

    @property
    def group_money(self) -> Money:
        """The group price as yuan money."""
        return Money.from_minor_units(self.group, "CNY")

    @property
    def gap(self) -> int:
        """How many fen the single-buy price stands above the group price."""
        return self.single - self.group


def _fen(value: Any, what: str) -> int:
    try:
        return money_to_fen(yuan(value, what))
    except ModelError:
        raise DataError(f"{what}: price {value!r} is not a whole number of fen") from None


def sku_prices_from_sku(root: Mapping[str, Any], sku_id: str) -> SkuPrices:
    """Return the prices of a ``pdd.goods.skus.get`` answer (fen integers)."""
    what = f"{SKU_METHOD} sku {sku_id}"
    group = fen_to_money(field(root, "multi_price", what), what)
    single = fen_to_money(field(root, "single_price", what), what)
    return SkuPrices(group=group.to_minor_units(), single=single.to_minor_units())


def sku_prices_from_info(root: Mapping[str, Any], goods_id: str) -> dict[str, SkuPrices]:
    """Return the prices by SKU id of a ``pdd.goods.information.get`` answer (yuan strings)."""
    what = f"{GOODS_INFO_METHOD} goods {goods_id}"
    info = root.get("goods_info")
    if info is None:
        return {}
    if not isinstance(info, Mapping):
        raise DataError(f"{what}: goods_info is not an object", operation=GOODS_INFO_METHOD)
    skus = info.get("sku_list") or []
    if not isinstance(skus, list):
        raise DataError(f"{what}: sku_list is not a list", operation=GOODS_INFO_METHOD)
    prices = {}
    for sku in skus:
        sku_id = str(field(sku, "sku_id", what))
        where = f"{what} sku {sku_id}"
        prices[sku_id] = SkuPrices(
            group=_fen(field(sku, "group_price", where), where),
            single=_fen(field(sku, "single_price", where), where),
        )
    return prices


def with_prices(
    listings: Sequence[Listing], read: Mapping[str, Mapping[str, SkuPrices]]
) -> list[Listing]:
    """Return ``listings`` with the group prices ``read`` (by goods, then SKU id) found."""
    priced = []
    for listing in listings:
        found = read.get(listing.item_id, {}).get(listing.sku_id or "")
        priced.append(
            listing if found is None else listing.model_copy(update={"price": found.group_money})
        )
    return priced


@dataclass(frozen=True, slots=True)
class PriceCommit:
    """One goods' price commit: the ``sku_price_list``, the prices it sets, the refusals."""

    entries: list[dict[str, Any]]
    written: dict[str, SkuPrices]
    refused: dict[int, UpdateResult]


def plan_commit(
    goods_id: str,
    changes: Sequence[PriceChange],
    group_prices: Sequence[int],
    current: Mapping[str, SkuPrices],
) -> PriceCommit:
    """Plan the commit of new group prices (fen) keeping each single-buy price's gap.

    A SKU PDD does not list in the goods, or whose single-buy price is not above its
    group price, is refused on its own (``refused`` by position in ``changes``).
    """
    entries = []
    written: dict[str, SkuPrices] = {}
    refused: dict[int, UpdateResult] = {}
    for index, (change, group_price) in enumerate(zip(changes, group_prices, strict=True)):
        sku_id = str(change.sku_id)
        now = current.get(sku_id)
        if now is None:
            message = f"SKU {sku_id} is not in goods {goods_id} on PDD"
            refused[index] = UpdateResult.failure(change, message)
            continue
        if now.gap <= 0:
            message = "the SKU's single-buy price is not above its group price on PDD"
            refused[index] = UpdateResult.failure(change, message)
            continue
        written[sku_id] = SkuPrices(group=group_price, single=group_price + now.gap)
        entries.append(
            {
                "sku_id": json_id(sku_id),
                "group_price": group_price,
                "single_price": group_price + now.gap,
            }
        )
    return PriceCommit(entries, written, refused)


class PriceMemo:
    """SKU prices as last read or written, each good for ``reuse`` after that moment.

    Bounded by the shop's catalogue: one entry per SKU ever read, replaced by later reads.
    """

    def __init__(self, clock: Clock, reuse: timedelta = PRICE_READ_REUSE) -> None:
        self._clock = clock
        self._reuse = reuse
        self._known: dict[str, dict[str, tuple[SkuPrices, datetime]]] = {}

    def put(self, goods_id: str, prices: Mapping[str, SkuPrices]) -> None:
        """Remember ``prices`` (by SKU id) of ``goods_id`` as of now."""
        now = self._clock.now()
        known = self._known.setdefault(goods_id, {})
        for sku_id, price in prices.items():
            known[sku_id] = (price, now)

    def get(self, goods_id: str, sku_ids: Collection[str]) -> dict[str, SkuPrices] | None:
        """Return the prices of all ``sku_ids`` when each was read recently, else ``None``."""
        oldest = self._clock.now() - self._reuse
        known = self._known.get(goods_id, {})
        found = {}
        for sku_id in sku_ids:
            entry = known.get(sku_id)
            if entry is None or entry[1] < oldest:
                return None
            found[sku_id] = entry[0]
        return found

    def forget(self, goods_id: str, sku_ids: Collection[str]) -> None:
        """Drop what is known of these SKUs of ``goods_id`` (their prices may be changing)."""
        known = self._known.get(goods_id, {})
        for sku_id in sku_ids:
            known.pop(sku_id, None)


class PddPriceReads:
    """The channel's price reads, remembered in a :class:`PriceMemo` for its price writes."""

    if TYPE_CHECKING:
        clock: Clock
        call: Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]

    _price_memo: PriceMemo | None = None

    @property
    def price_memo(self) -> PriceMemo:
        """What the channel last read or wrote of its SKUs' prices."""
        if self._price_memo is None:
            self._price_memo = PriceMemo(self.clock)
        return self._price_memo

    async def read_goods_prices(self, goods_id: str) -> dict[str, SkuPrices]:
        """Read the prices of every SKU of one goods (one call)."""
        root = await self.call(GOODS_INFO_METHOD, {"goods_id": goods_id})
        prices = sku_prices_from_info(root, goods_id)
        self.price_memo.put(goods_id, prices)
        return prices

    async def read_sku_prices(self, goods_id: str, sku_id: str) -> SkuPrices:
        """Read the prices of one SKU (one call)."""
        root = await self.call(SKU_METHOD, {"goods_id": goods_id, "sku_id": sku_id})
        prices = sku_prices_from_sku(root, sku_id)
        self.price_memo.put(goods_id, {sku_id: prices})
        return prices

    async def current_prices(self, goods_id: str, sku_ids: Collection[str]) -> dict[str, SkuPrices]:
        """Return these SKUs' prices: as recently read or written, else read (one call)."""
        known = self.price_memo.get(goods_id, sku_ids)
        return known if known is not None else await self.read_goods_prices(goods_id)

    async def priced(self, listings: Sequence[Listing], *, by_goods: bool) -> list[Listing]:
        """Return ``listings`` with their group prices, read per goods or per SKU.

        A goods or SKU PDD refuses to read (gone meanwhile) keeps its listings unpriced.
        """
        read: dict[str, dict[str, SkuPrices]] = {}
        wanted = [(x.item_id, x.sku_id) for x in listings if x.sku_id is not None]
        targets = dict.fromkeys((goods, None if by_goods else sku) for goods, sku in wanted)
        for goods_id, sku_id in targets:
            try:
                if sku_id is None:
                    read[goods_id] = await self.read_goods_prices(goods_id)
                else:
                    prices = await self.read_sku_prices(goods_id, sku_id)
                    read.setdefault(goods_id, {})[sku_id] = prices
            except ChannelError as error:
                if not is_item_error(error):
                    raise
        return with_prices(listings, read)
