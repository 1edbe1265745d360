"""Sending price and quantity changes: one PATCH per SKU, or one listings feed.

The route is chosen by batch size against ``AmazonLimits.feed_threshold``: small
batches are applied within seconds by ``patchListingsItem``; large ones by a
``JSON_LISTINGS_FEED``, which takes minutes but spends one submission for up to
25,000 SKUs. A listing whose stock goes to zero is always patched at once, so a
sold-out SKU never stays on sale while a feed is processed. Either way each update
gets its own result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from channelsync.errors import (
    ChannelError,
    ConflictError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RetryableChannelError,
)
from channelsync.http import ChannelHttpClient
from channelsync.models import UpdateResult
from channelsync_amazon.feeds import FeedMessage, FeedSubmitter
from channelsync_amazon.listings import items_path, parse_submission, patch_body
from channelsync_amazon.wire import dumps

__all__ = ["ListingWriter", "PlannedPatch"]

#: Errors that concern one SKU; any other error fails the whole batch.
_PER_SKU_ERRORS = (InvalidRequestError, NotFoundError, ConflictError, DataError)


class _Update(Protocol):
    @property
    def item_id(self) -> str: ...
    @property
    def sku_id(self) -> str | None: ...
    @property
    def merchant_code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PlannedPatch:
    """An update and the JSON Patch operations that apply it to its SKU."""

    update: _Update
    sku: str
    patches: Sequence[Mapping[str, Any]]


class ListingWriter:
    """Applies planned patches through the Listings Items API or a listings feed."""

    def __init__(
        self,
        client: ChannelHttpClient,
        *,
        seller_id: str,
        marketplace_id: str,
        feeds: FeedSubmitter,
        feed_threshold: int,
    ) -> None:
        self._client = client
        self._seller_id = seller_id
        self._marketplace_id = marketplace_id
        self._feeds = feeds
        self._feed_threshold = feed_threshold

    async def apply(
        self, planned: Sequence[PlannedPatch], *, at_once: Sequence[bool] = ()
    ) -> list[UpdateResult]:
        """Apply every planned patch; one result each, in order.

        Those marked in ``at_once`` are patched one by one first, whatever the batch
        size: a feed takes a minute or more to apply, and some changes (a listing sold
        out) must not wait for it. The rest take the usual route.
        """
        first = [index for index, flag in enumerate(at_once) if flag]
        if not first:
            return await self._route(planned)
        results: dict[int, UpdateResult] = {}
        for index in first:
            results[index] = await self._by_patch(planned[index])
        rest = [index for index in range(len(planned)) if index not in results]
        for index, result in zip(
            rest, await self._route([planned[index] for index in rest]), strict=True
        ):
            results[index] = result
        return [results[index] for index in range(len(planned))]

    async def _route(self, planned: Sequence[PlannedPatch]) -> list[UpdateResult]:
        if not planned:
            return []
        if len(planned) >= self._feed_threshold:
            return await self._by_feed(planned)
        return [await self._by_patch(plan) for plan in planned]

    async def _by_patch(self, plan: PlannedPatch) -> UpdateResult:
        try:
            body = await self._client.request_json(
                "PATCH",
                items_path(self._seller_id, plan.sku),
                operation="patchListingsItem",
                params={"marketplaceIds": self._marketplace_id},
                content=dumps(patch_body(plan.patches)),
                headers={"Content-Type": "application/json"},
            )
            outcome = parse_submission(body)
        except _PER_SKU_ERRORS as error:
            return _failed(plan.update, error)
        except RetryableChannelError as error:
            # The transport already retried; the engine's outbox retries later.
            return _failed(plan.update, error)
        if outcome.accepted:
            return UpdateResult.success(plan.update)
        return UpdateResult.failure(plan.update, outcome.message, code=outcome.code)

    async def _by_feed(self, planned: Sequence[PlannedPatch]) -> list[UpdateResult]:
        outcomes = await self._feeds.submit([FeedMessage(p.sku, p.patches) for p in planned])
        return [
            UpdateResult.success(plan.update)
            if outcome.ok
            else UpdateResult.failure(plan.update, outcome.message, code=outcome.code)
            for plan, outcome in zip(planned, outcomes, strict=True)
        ]


def _failed(update: _Update, error: ChannelError) -> UpdateResult:
    return UpdateResult.failure(
        update,
        str(error),
        code=error.code,
        # A lost answer may hide an applied patch; resending an absolute value is safe.
        retryable=error.retryable or isinstance(error, DataError),
    )
