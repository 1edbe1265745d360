"""Stock and prices on TOP.

Stock: ``taobao.skus.quantity.update`` sets up to 20 SKUs of one item per call, full
(``type=1``) or incremental (``type=2``); items without SKUs go through
``taobao.item.quantity.update``. When a batch call is refused because of one SKU,
each SKU is sent alone so the others still apply.

Prices: ``taobao.item.sku.price.update`` selects a SKU by its property string and
must keep the item's own price inside the range of its SKU prices, so every call
also sends ``item_price``: the lowest SKU price after the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from channelsync.channels import InventoryCapability, PricingCapability
from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    InvalidRequestError,
    NotFoundError,
)
from channelsync.models import PriceChange, StockUpdate, StockUpdateMode, UpdateResult
from channelsync_tmall.envelope import nested_list
from channelsync_tmall.listings import TopListings
from channelsync_tmall.mapping import format_yuan, parse_yuan, text_field

__all__ = ["TopInventory"]

SKUS_QUANTITY_METHOD = "taobao.skus.quantity.update"
ITEM_QUANTITY_METHOD = "taobao.item.quantity.update"
SKU_PRICE_METHOD = "taobao.item.sku.price.update"

_CENT = Decimal("0.01")
_STOCK_TYPE = {StockUpdateMode.ABSOLUTE: 1, StockUpdateMode.DELTA: 2}
_CALL_LEVEL_ERRORS = (AuthenticationError, AuthorizationError)


def _failure(update: StockUpdate | PriceChange, error: ChannelError) -> UpdateResult:
    return UpdateResult.failure(update, error.message, code=error.code, retryable=error.retryable)


class TopInventory(TopListings, InventoryCapability, PricingCapability):
    """Sets SKU stock (absolute and incremental) and SKU prices."""

    skus_per_call: ClassVar[int] = 20

    # -- stock ------------------------------------------------------------------------

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Send one batch: one call per item and mode, item-level stock one call each."""
        results: dict[int, UpdateResult] = {}
        groups: dict[tuple[str, StockUpdateMode], list[int]] = {}
        for index, update in enumerate(batch):
            if update.sku_id is None:
                results[index] = await self._set_one(update)
            else:
                groups.setdefault((update.item_id, update.mode), []).append(index)
        for indexes in groups.values():
            for start in range(0, len(indexes), self.skus_per_call):
                chunk = indexes[start : start + self.skus_per_call]
                answered = await self._set_skus([batch[i] for i in chunk])
                results.update(zip(chunk, answered, strict=True))
        return [results[index] for index in range(len(batch))]

    async def _set_skus(self, updates: list[StockUpdate]) -> list[UpdateResult]:
        first = updates[0]
        quantities = ";".join(f"{u.sku_id}:{u.quantity}" for u in updates)
        try:
            root = await self.call(
                SKUS_QUANTITY_METHOD,
                {
                    "num_iid": first.item_id,
                    "skuid_quantities": quantities,
                    "type": _STOCK_TYPE[first.mode],
                },
            )
        except _CALL_LEVEL_ERRORS:
            raise
        except (NotFoundError, InvalidRequestError) as error:
            if len(updates) == 1:
                return [_failure(first, error)]
            # One bad SKU refuses the whole call: send each alone to apply the others.
            return [await self._set_one(update) for update in updates]
        except ChannelError as error:
            return [_failure(update, error) for update in updates]
        return self._confirmed(root, updates)

    def _confirmed(self, root: dict[str, Any], updates: list[StockUpdate]) -> list[UpdateResult]:
        """Mark SKUs the answer leaves out as not applied (TOP echoes the SKUs it set)."""
        item = root.get("item")
        answered = nested_list(item, "skus", "sku") if isinstance(item, dict) else []
        if not answered:
            return [UpdateResult.success(update) for update in updates]
        applied = {text_field(sku, "sku_id") for sku in answered}
        return [
            UpdateResult.success(update)
            if update.sku_id in applied
            else UpdateResult.failure(
                update, "TOP did not confirm this SKU's stock", code="unconfirmed", retryable=True
            )
            for update in updates
        ]

    async def _set_one(self, update: StockUpdate) -> UpdateResult:
        try:
            await self.call(
                ITEM_QUANTITY_METHOD,
                {
                    "num_iid": update.item_id,
                    "sku_id": update.sku_id,
                    "quantity": update.quantity,
                    "type": _STOCK_TYPE[update.mode],
                },
            )
        except _CALL_LEVEL_ERRORS:
            raise
        except ChannelError as error:
            return _failure(update, error)
        return UpdateResult.success(update)

    # -- prices -----------------------------------------------------------------------

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set each SKU's price, reading the items' SKUs first (one call for 40 items)."""
        item_ids = list(dict.fromkeys(change.item_id for change in batch if change.sku_id))
        try:
            skus = await self.skus_of(item_ids) if item_ids else {}
        except _CALL_LEVEL_ERRORS:
            raise
        except ChannelError as error:
            return [_failure(change, error) for change in batch]
        prices: dict[str, dict[str, Decimal]] = {
            item_id: {
                text_field(sku, "sku_id") or "": parse_yuan(sku.get("price"), "price").amount
                for sku in records
            }
            for item_id, records in skus.items()
        }
        results = []
        for change in batch:
            results.append(await self._set_price(change, skus, prices))
        return results

    async def _set_price(
        self,
        change: PriceChange,
        skus: dict[str, list[dict[str, Any]]],
        prices: dict[str, dict[str, Decimal]],
    ) -> UpdateResult:
        if change.sku_id is None:
            return UpdateResult.failure(
                change,
                "the price of an item without SKUs is set by taobao.item.update, "
                "which this channel does not use",
                code="unsupported",
            )
        record = next(
            (s for s in skus.get(change.item_id, []) if text_field(s, "sku_id") == change.sku_id),
            None,
        )
        properties = None if record is None else text_field(record, "properties")
        if properties is None:
            return UpdateResult.failure(
                change, f"SKU {change.sku_id} not found on item {change.item_id}", code="not_found"
            )
        try:
            price = format_yuan(change.price)
        except InvalidRequestError as error:
            return _failure(change, error)
        after = {**prices[change.item_id], change.sku_id: Decimal(price)}
        try:
            await self.call(
                SKU_PRICE_METHOD,
                {
                    "num_iid": change.item_id,
                    "properties": properties,
                    "price": price,
                    "item_price": format(min(after.values()).quantize(_CENT), "f"),
                },
            )
        except _CALL_LEVEL_ERRORS:
            raise
        except ChannelError as error:
            return _failure(change, error)
        prices[change.item_id] = after
        return UpdateResult.success(change)
