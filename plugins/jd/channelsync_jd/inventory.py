"""Stock and prices on JOS: one SKU per call (``updateSkuStock``, ``updateSkuJdPrice``)."""

from __future__ import annotations

from collections.abc import Sequence

from channelsync.channels import InventoryCapability, PricingCapability
from channelsync.errors import InvalidRequestError
from channelsync.models import PriceChange, StockUpdate, UpdateResult
from channelsync_jd.listings import JosListings
from channelsync_jd.mapping import CURRENCY
from channelsync_jd.methods import UPDATE_PRICE, UPDATE_STOCK, numeric
from channelsync_jd.signing import ParamValue

__all__ = ["JosInventory"]


class JosInventory(JosListings, InventoryCapability, PricingCapability):
    """Sets each SKU's absolute stock and its JD price in yuan."""

    async def send_stock_batch(self, batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        """Set each SKU's absolute stock, one call per SKU."""
        results = []
        for update in batch:
            try:
                sku_id = numeric(update.sku_id, "SKU id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(update, error.message))
                continue
            params: dict[str, ParamValue] = {"skuId": sku_id, "stockNum": update.quantity}
            results.append(await self._write_one(update, UPDATE_STOCK, params))
        return results

    async def send_price_batch(self, batch: Sequence[PriceChange]) -> list[UpdateResult]:
        """Set each SKU's JD price in yuan, one call per SKU."""
        results = []
        for change in batch:
            price = change.price
            try:
                sku_id = numeric(change.sku_id, "SKU id")
            except InvalidRequestError as error:
                results.append(UpdateResult.failure(change, error.message))
                continue
            if price.currency != CURRENCY:
                refusal = f"JD prices are in {CURRENCY}, not {price.currency}"
                results.append(UpdateResult.failure(change, refusal))
                continue
            if price.amount != price.quantize().amount:
                refusal = f"JD prices have at most 2 decimals, got {price}"
                results.append(UpdateResult.failure(change, refusal))
                continue
            params: dict[str, ParamValue] = {"skuId": sku_id, "jdPrice": price.quantize().amount}
            results.append(await self._write_one(change, UPDATE_PRICE, params))
        return results
