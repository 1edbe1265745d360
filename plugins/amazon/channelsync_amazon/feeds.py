"""Feeds API 2021-06-30 with ``JSON_LISTINGS_FEED``: many price/quantity patches in one go.

The flow: create a feed document (SP-API), upload the feed JSON to its pre-signed URL
(S3, no access token), create the feed (SP-API), poll it on the channel clock until it
is ``DONE``, fetch the result document and read its processing report into one
outcome per message. A feed holds up to 25,000 messages, and Amazon allows five
``JSON_LISTINGS_FEED`` submissions per five minutes per region on top of
``createFeed``'s own usage plan; the channel paces both.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channelsync.clock import Clock
from channelsync.errors import DataError, InvalidRequestError, TransientError
from channelsync.http import ChannelHttpClient, parse_json
from channelsync_amazon.listings import PRODUCT_TYPE
from channelsync_amazon.wire import as_list, as_object, dumps, opt_int, opt_text, require_text

__all__ = [
    "FEED_CONTENT_TYPE",
    "FEED_TYPE",
    "MAX_FEED_MESSAGES",
    "FeedMessage",
    "FeedSubmitter",
    "MessageOutcome",
    "feed_document",
    "read_processing_report",
]

FEED_TYPE = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
#: Messages one ``JSON_LISTINGS_FEED`` document may hold.
MAX_FEED_MESSAGES = 25_000
#: The rate-limit key of the per-region ``JSON_LISTINGS_FEED`` submission quota.
FEED_QUOTA_KEY = "jsonListingsFeedSubmissions"
_FINISHED = frozenset({"DONE", "FATAL", "CANCELLED"})


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One ``PATCH`` message: the SKU and its JSON Patch operations."""

    sku: str
    patches: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """The processing report's verdict on one message."""

    ok: bool
    code: str | None = None
    message: str = ""


def feed_document(seller_id: str, messages: Sequence[FeedMessage]) -> dict[str, Any]:
    """Return the feed JSON; message ids are the 1-based positions in ``messages``."""
    if not 1 <= len(messages) <= MAX_FEED_MESSAGES:
        raise ValueError(f"a listings feed holds 1 to {MAX_FEED_MESSAGES} messages")
    return {
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [
            {
                "messageId": position,
                "sku": message.sku,
                "operationType": "PATCH",
                "productType": PRODUCT_TYPE,
                "patches": list(message.patches),
            }
            for position, message in enumerate(messages, start=1)
        ],
    }


def read_processing_report(report: object, count: int) -> list[MessageOutcome]:
    """Return one outcome per message id ``1..count`` from a processing report.

    A message with an ``ERROR`` issue failed; an ``ERROR`` issue without a message id
    is about the whole feed and fails every message it did not accept.
    """
    record = as_object(report, what="processing report")
    if "summary" not in record or "issues" not in record:
        raise DataError("processing report: 'summary' or 'issues' is missing")
    summary = as_object(record["summary"], what="processing report summary")
    accepted = opt_int(summary, "messagesAccepted", what="processing report summary")
    per_message: dict[int, list[tuple[str | None, str]]] = {}
    feed_level: list[tuple[str | None, str]] = []
    for entry in as_list(record["issues"], what="processing report issues"):
        issue = as_object(entry, what="processing report issue")
        if issue.get("severity") != "ERROR":
            continue
        found = (opt_text(issue, "code", what="issue"), str(issue.get("message", "")))
        message_id = opt_int(issue, "messageId", what="issue")
        if message_id is None:
            feed_level.append(found)
        else:
            per_message.setdefault(message_id, []).append(found)
    outcomes = []
    for message_id in range(1, count + 1):
        problems = per_message.get(message_id)
        if problems is None and feed_level and not accepted:
            problems = feed_level
        if problems:
            code = problems[0][0]
            outcomes.append(MessageOutcome(False, code, "; ".join(text for _, text in problems)))
        else:
            outcomes.append(MessageOutcome(True))
    return outcomes


class FeedSubmitter:
    """Runs the ``JSON_LISTINGS_FEED`` flow for one channel.

    ``api`` carries the access token (SP-API calls); ``plain`` does not (the S3 upload
    and download). ``poll_interval`` and ``max_wait`` are seconds on ``clock``.
    """

    def __init__(
        self,
        *,
        api: ChannelHttpClient,
        plain: ChannelHttpClient,
        clock: Clock,
        seller_id: str,
        marketplace_id: str,
        poll_interval: float = 30.0,
        max_wait: float = 1800.0,
        acquire_quota: Callable[[], Awaitable[float]] | None = None,
    ) -> None:
        self._api = api
        self._plain = plain
        self._clock = clock
        self._seller_id = seller_id
        self._marketplace_id = marketplace_id
        self._poll_interval = poll_interval
        self._max_wait = max_wait
        self._acquire_quota = acquire_quota

    async def submit(self, messages: Sequence[FeedMessage]) -> list[MessageOutcome]:
        """Send ``messages`` as one feed and return one outcome per message, in order."""
        document = dumps(feed_document(self._seller_id, messages))
        created = as_object(
            await self._api.request_json(
                "POST",
                "/feeds/2021-06-30/documents",
                operation="createFeedDocument",
                json={"contentType": FEED_CONTENT_TYPE},
            ),
            what="createFeedDocument answer",
        )
        document_id = require_text(created, "feedDocumentId", what="createFeedDocument answer")
        upload_url = require_text(created, "url", what="createFeedDocument answer")
        await self._plain.request(
            "PUT",
            upload_url,
            operation="uploadFeedDocument",
            content=document,
            headers={"Content-Type": FEED_CONTENT_TYPE},
        )
        if self._acquire_quota is not None:
            await self._acquire_quota()
        feed = as_object(
            await self._api.request_json(
                "POST",
                "/feeds/2021-06-30/feeds",
                operation="createFeed",
                json={
                    "feedType": FEED_TYPE,
                    "marketplaceIds": [self._marketplace_id],
                    "inputFeedDocumentId": document_id,
                },
            ),
            what="createFeed answer",
        )
        feed_id = require_text(feed, "feedId", what="createFeed answer")
        finished = await self._wait(feed_id)
        status = finished["processingStatus"]
        result_id = opt_text(finished, "resultFeedDocumentId", what="getFeed answer")
        if status == "CANCELLED":
            raise TransientError(f"feed {feed_id} was cancelled before processing", code=status)
        if result_id is None:
            raise InvalidRequestError(
                f"feed {feed_id} ended {status} without a report", code=status
            )
        report = await self._report(result_id)
        outcomes = read_processing_report(report, len(messages))
        if status == "FATAL":
            reasons = {o.message for o in outcomes if not o.ok} or {"no reason given"}
            raise InvalidRequestError(
                f"feed {feed_id} was rejected: {'; '.join(sorted(reasons))}", code=status
            )
        return outcomes

    async def _wait(self, feed_id: str) -> Mapping[str, Any]:
        waited = 0.0
        while True:
            feed = as_object(
                await self._api.request_json(
                    "GET", f"/feeds/2021-06-30/feeds/{feed_id}", operation="getFeed"
                ),
                what="getFeed answer",
            )
            status = require_text(feed, "processingStatus", what="getFeed answer")
            if status in _FINISHED:
                return feed
            if waited >= self._max_wait:
                raise TransientError(
                    f"feed {feed_id} still {status} after {waited:.0f}s", code=status
                )
            await self._clock.sleep(self._poll_interval)
            waited += self._poll_interval

    async def _report(self, document_id: str) -> object:
        location = as_object(
            await self._api.request_json(
                "GET",
                f"/feeds/2021-06-30/documents/{document_id}",
                operation="getFeedDocument",
            ),
            what="getFeedDocument answer",
        )
        url = require_text(location, "url", what="getFeedDocument answer")
        compression = opt_text(location, "compressionAlgorithm", what="getFeedDocument answer")
        response = await self._plain.request("GET", url, operation="downloadFeedDocument")
        if compression == "GZIP":
            try:
                content = gzip.decompress(response.content)
            except (OSError, EOFError, zlib.error):
                raise DataError("processing report is not valid GZIP") from None
            try:
                return json.loads(content)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise DataError("processing report is not valid JSON") from None
        return parse_json(response, operation="downloadFeedDocument")
