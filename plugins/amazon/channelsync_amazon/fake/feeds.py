"""The fake's Feeds API: documents on fake S3, the feed state machine, processing reports.

A feed is ``IN_QUEUE`` for ``queue_seconds``, ``IN_PROGRESS`` for ``process_seconds``,
then ``DONE`` (or ``FATAL`` when the document is unusable). It is processed when first
seen finished: every ``JSON_LISTINGS_FEED`` message is checked the way the reference
describes and applied, and the processing report is stored as the result document.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from channelsync_amazon.fake.catalogue import apply_patches, issue

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["FakeDocument", "FakeFeed", "process_feed"]

MAX_MESSAGES = 25_000
_OPERATIONS = frozenset({"UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"})


@dataclass
class FakeDocument:
    """A feed document: the input the seller uploads, or a result the fake writes."""

    document_id: str
    content_type: str
    created: datetime
    signature: str
    content: bytes | None = None
    gzip: bool = False


@dataclass
class FakeFeed:
    """A submitted feed and its processing state."""

    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    document_id: str
    created: datetime
    partial_failure: bool = False
    status: str = "IN_QUEUE"
    started: datetime | None = None
    ended: datetime | None = None
    result_document_id: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


def _report(
    fake: FakeSellingPartner,
    feed: FakeFeed,
    issues: list[dict[str, Any]],
    *,
    total: int,
    accepted: int,
    invalid: int,
) -> dict[str, Any]:
    errors = sum(1 for i in issues if i["severity"] == "ERROR")
    return {
        "header": {"sellerId": fake.seller_id, "version": "2.0", "feedId": feed.feed_id},
        "issues": issues,
        "summary": {
            "errors": errors,
            "warnings": len(issues) - errors,
            "messagesProcessed": total,
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    }


def _message_problem(  # noqa: PLR0911 - one answer per rule of the message schema
    message: object, seen: set[int]
) -> str | None:
    if not isinstance(message, dict):
        return "message is not an object"
    message_id = message.get("messageId")
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        return "messageId must be an integer"
    if not 1 <= message_id <= 2_147_483_647 or message_id in seen:
        return f"messageId {message_id} is out of range or repeated"
    seen.add(message_id)
    if not isinstance(message.get("sku"), str) or not message["sku"]:
        return "'sku' is required but not supplied"
    operation = message.get("operationType")
    if operation not in _OPERATIONS:
        return f"operationType {operation!r} is not supported"
    if operation == "PATCH" and ("productType" not in message or "patches" not in message):
        return "PATCH messages need 'productType' and 'patches'"
    if operation == "PATCH" and ("attributes" in message or "requirements" in message):
        return "'attributes' and 'requirements' do not apply to PATCH messages"
    return None


def process_feed(  # noqa: PLR0912 - the document checks, then each message
    fake: FakeSellingPartner, feed: FakeFeed
) -> None:
    """Check and apply every message of ``feed`` and store its processing report."""
    document = fake.documents.get(feed.document_id)
    parsed: Any = None
    if document is not None and document.content:
        try:
            parsed = json.loads(document.content, parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
    header = parsed.get("header") if isinstance(parsed, dict) else None
    messages = parsed.get("messages") if isinstance(parsed, dict) else None
    fatal = None
    if parsed is None:
        fatal = "the feed document is empty or not valid JSON"
    elif not isinstance(header, dict) or header.get("version") != "2.0":
        fatal = "the feed header is missing or its version is not 2.0"
    elif header.get("sellerId") != fake.seller_id:
        fatal = "the feed header names another seller"
    elif not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        fatal = f"a feed holds 1 to {MAX_MESSAGES} messages"
    if fatal is not None or not isinstance(messages, list):
        feed.status = "FATAL"
        feed.report = _report(
            fake, feed, [issue("100001", fatal or "")], total=0, accepted=0, invalid=0
        )
        return
    issues: list[dict[str, Any]] = []
    seen: set[int] = set()
    accepted = 0
    for position, message in enumerate(messages):
        problem = _message_problem(message, seen)
        sku_text = message.get("sku") if isinstance(message, dict) else None
        found = [] if problem else _apply(fake, feed, message, first=position == 0)
        if problem:
            found = [issue("100002", problem)]
        for entry in found:
            reported: dict[str, Any] = {"severity": "ERROR", "message": entry["message"]}
            if isinstance(message, dict) and isinstance(message.get("messageId"), int):
                reported["messageId"] = message["messageId"]
            if isinstance(sku_text, str) and sku_text:
                reported["sku"] = sku_text
            reported["code"] = entry["code"]
            if entry.get("attributeNames"):
                reported["attributeName"] = entry["attributeNames"][0]
            issues.append(reported)
        accepted += 0 if found else 1
    feed.status = "DONE"
    feed.report = _report(
        fake,
        feed,
        issues,
        total=len(messages),
        accepted=accepted,
        invalid=len(messages) - accepted,
    )


def _apply(
    fake: FakeSellingPartner, feed: FakeFeed, message: dict[str, Any], *, first: bool
) -> list[dict[str, Any]]:
    if first and feed.partial_failure:
        return [issue("100003", "the listing could not be updated at this time")]
    found = fake.store.find_sku(message["sku"])
    if found is None:
        return [issue("100004", f"SKU {message['sku']} does not exist for this seller")]
    item, sku = found
    operation = message["operationType"]
    if operation == "DELETE":
        item.skus.remove(sku)
        return []
    if operation in ("UPDATE", "PARTIAL_UPDATE"):
        attributes = message.get("attributes")
        if not isinstance(attributes, dict) or not attributes:
            return [issue("90220", "'attributes' is required but not supplied")]
        patches = [
            {"op": "replace", "path": f"/attributes/{name}", "value": value}
            for name, value in attributes.items()
        ]
    else:
        patches = message["patches"]
    return apply_patches(
        sku,
        message.get("productType"),
        patches,
        marketplace_id=fake.marketplace_id,
        currency=fake.currency,
        now=fake.clock.now(),
    )


def advance(fake: FakeSellingPartner, feed: FakeFeed) -> None:
    """Move ``feed`` along its state machine by the fake clock; process it when due."""
    if feed.status not in ("IN_QUEUE", "IN_PROGRESS"):
        return
    now = fake.clock.now()
    start = feed.created + timedelta(seconds=fake.queue_seconds)
    end = start + timedelta(seconds=fake.process_seconds)
    if now < start:
        return
    feed.started = start
    if now < end:
        feed.status = "IN_PROGRESS"
        return
    feed.ended = end
    process_feed(fake, feed)
    body = json.dumps(feed.report, separators=(",", ":")).encode("utf-8")
    result = fake.new_document("application/json")
    result.gzip = fake.gzip_reports
    result.content = gzip.compress(body, mtime=0) if fake.gzip_reports else body
    feed.result_document_id = result.document_id
