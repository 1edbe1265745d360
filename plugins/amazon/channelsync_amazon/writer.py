"""Sending price and quantity changes: one PATCH per SKU, or one listings feed.

A SKU's quantity and price changes of one send go together, as the operations of one
PATCH or one feed message. The route is chosen by the number of SKUs against
``AmazonLimits.feed_threshold``: small
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
from channelsync_amazon.feeds import (
    MAX_FEED_MESSAGES,
    FeedMessage,
    FeedSubmitter,
    MessageOutcome,
)
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


@dataclass(frozen=True, slots=True)
class _Message:
    """The patches of one SKU, and which planned updates they carry."""

    sku: str
    members: tuple[int, ...]
    patches: tuple[Mapping[str, Any], ...]


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

        The patches of one SKU (its quantity and its price, say) travel together, in
        one PATCH or one feed message, and share its answer. SKUs with an update marked
        in ``at_once`` are patched one by one first, whatever the batch size: a feed
        takes a minute or more to apply, and some changes (a listing sold out) must not
        wait for it. The rest take the usual route by the number of SKUs.
        """
        flags = list(at_once) + [False] * (len(planned) - len(at_once))
        urgent: list[_Message] = []
        rest: list[_Message] = []
        for message in _by_sku(planned):
            (urgent if any(flags[i] for i in message.members) else rest).append(message)
        results: dict[int, UpdateResult] = {}
        for message in urgent:
            results.update(await self._by_patch(message, planned))
        if len(rest) >= self._feed_threshold:
            results.update(await self._by_feed(rest, planned))
        else:
            for message in rest:
                results.update(await self._by_patch(message, planned))
        return [results[index] for index in range(len(planned))]

    async def _by_patch(
        self, message: _Message, planned: Sequence[PlannedPatch]
    ) -> dict[int, UpdateResult]:
        updates = [planned[i].update for i in message.members]
        try:
            body = await self._client.request_json(
                "PATCH",
                items_path(self._seller_id, message.sku),
                operation="patchListingsItem",
                params={"marketplaceIds": self._marketplace_id},
                content=dumps(patch_body(message.patches)),
                headers={"Content-Type": "application/json"},
            )
            outcome = parse_submission(body)
        except _PER_SKU_ERRORS as error:
            return {i: _failed(u, error) for i, u in zip(message.members, updates, strict=True)}
        except RetryableChannelError as error:
            # The transport already retried; the engine's outbox retries later.
            return {i: _failed(u, error) for i, u in zip(message.members, updates, strict=True)}
        return {
            i: UpdateResult.success(u)
            if outcome.accepted
            else UpdateResult.failure(u, outcome.message, code=outcome.code)
            for i, u in zip(message.members, updates, strict=True)
        }

    async def _by_feed(
        self, messages: Sequence[_Message], planned: Sequence[PlannedPatch]
    ) -> dict[int, UpdateResult]:
        outcomes: list[MessageOutcome] = []
        for first in range(0, len(messages), MAX_FEED_MESSAGES):
            chunk = messages[first : first + MAX_FEED_MESSAGES]
            outcomes += await self._feeds.submit([FeedMessage(m.sku, m.patches) for m in chunk])
        results: dict[int, UpdateResult] = {}
        for message, outcome in zip(messages, outcomes, strict=True):
            for index in message.members:
                update = planned[index].update
                results[index] = (
                    UpdateResult.success(update)
                    if outcome.ok
                    else UpdateResult.failure(update, outcome.message, code=outcome.code)
                )
        return results


def _by_sku(planned: Sequence[PlannedPatch]) -> list[_Message]:
    """Group the planned patches by SKU, in the order each SKU first appears."""
    members: dict[str, list[int]] = {}
    for index, plan in enumerate(planned):
        members.setdefault(plan.sku, []).append(index)
    return [
        _Message(
            sku,
            tuple(indexes),
            tuple(patch for i in indexes for patch in planned[i].patches),
        )
        for sku, indexes in members.items()
    ]


def _failed(update: _Update, error: ChannelError) -> UpdateResult:
    return UpdateResult.failure(
        update,
        str(error),
        code=error.code,
        # A lost answer may hide an applied patch; resending an absolute value is safe.
        retryable=error.retryable or isinstance(error, DataError),
    )
