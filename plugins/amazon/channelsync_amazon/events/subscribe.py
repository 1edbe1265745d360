"""Opting a seller in to SP-API notifications: a destination, then a subscription.

Two calls of the Notifications API v1, with two kinds of LWA token:

1. ``createDestination`` registers the SQS queue's ARN for the application. It is a
   *grantless* operation: its token comes from the ``client_credentials`` grant with
   the scope ``sellingpartnerapi::notifications``, not from a seller's refresh token.
   Amazon refuses a second destination for the same ARN (409), so an existing one
   is looked up first with ``getDestinations`` (also grantless) and reused.
2. ``createSubscription`` for ``ORDER_CHANGE`` with the *seller's* token, payload
   version ``1.0`` and an event filter (order change types and the channel's
   marketplaces). A 409 ``StateConflict`` means the seller is already subscribed:
   ``getSubscription`` tells where to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channelsync.errors import ConflictError, DataError
from channelsync.http import AccessToken, ChannelHttpClient
from channelsync_amazon.auth import LWA_OPERATION, parse_token_response
from channelsync_amazon.events.notifications import ORDER_CHANGE
from channelsync_amazon.events.queue import SqsQueue
from channelsync_amazon.wire import as_object

__all__ = [
    "DESTINATIONS_PATH",
    "NOTIFICATIONS_SCOPE",
    "ORDER_CHANGE_TYPES",
    "OptIn",
    "destination_body",
    "grantless_token_fields",
    "request_grantless_token",
    "subscribe_order_changes",
    "subscription_body",
]

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
DESTINATIONS_PATH = "/notifications/v1/destinations"
#: The order changes channelsync wants: status changes and buyers' cancellation requests.
ORDER_CHANGE_TYPES = ("OrderStatusChange", "BuyerRequestedChange")
PAYLOAD_VERSION = "1.0"
DESTINATION_NAME = "channelsync"


def grantless_token_fields(client_id: str, client_secret: str, scope: str) -> dict[str, str]:
    """Return the form fields of LWA's ``client_credentials`` grant (no refresh token)."""
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": client_id,
        "client_secret": client_secret,
    }


async def request_grantless_token(
    client: ChannelHttpClient, token_url: str, client_id: str, client_secret: str
) -> AccessToken:
    """Return a grantless access token for the Notifications API's grantless operations."""
    fields = grantless_token_fields(client_id, client_secret, NOTIFICATIONS_SCOPE)
    body = await client.request_json("POST", token_url, operation=LWA_OPERATION, data=fields)
    token, _ = parse_token_response(body)
    client.redactor.add_secret(token.value)
    return token


def destination_body(queue: SqsQueue) -> dict[str, Any]:
    """Return the ``createDestination`` body for ``queue``."""
    return {"name": DESTINATION_NAME, "resourceSpecification": {"sqs": {"arn": queue.arn}}}


def subscription_body(destination_id: str, marketplace_ids: Sequence[str]) -> dict[str, Any]:
    """Return the ``createSubscription`` body for ``ORDER_CHANGE``."""
    return {
        "payloadVersion": PAYLOAD_VERSION,
        "destinationId": destination_id,
        "processingDirective": {
            "eventFilter": {
                "eventFilterType": ORDER_CHANGE,
                "orderChangeTypes": list(ORDER_CHANGE_TYPES),
                "marketplaceIds": list(marketplace_ids),
            }
        },
    }


@dataclass(frozen=True)
class OptIn:
    """What :func:`subscribe_order_changes` found or created."""

    arn: str
    destination_id: str
    destination_created: bool
    subscription_id: str
    subscription_created: bool
    marketplace_ids: tuple[str, ...]

    def summary(self, channel: str) -> str:
        """Return the summary an operator reads."""
        destination = "created" if self.destination_created else "already registered"
        subscription = "created" if self.subscription_created else "already subscribed"
        return (
            f"channel {channel}: SQS destination {self.destination_id} for {self.arn} "
            f"{destination}; ORDER_CHANGE subscription {self.subscription_id} {subscription} "
            f"({', '.join(ORDER_CHANGE_TYPES)}; marketplaces {', '.join(self.marketplace_ids)})"
        )


def _payload(body: object, what: str) -> Mapping[str, Any]:
    return as_object(as_object(body, what=what).get("payload"), what=f"{what} payload")


def _text(record: Mapping[str, Any], name: str, what: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise DataError(f"{what} has no {name}")
    return value


async def _find_destination(grantless: ChannelHttpClient, arn: str) -> str | None:
    body = await grantless.request_json("GET", DESTINATIONS_PATH, operation="getDestinations")
    listed = as_object(body, what="getDestinations answer").get("payload")
    if not isinstance(listed, list):
        raise DataError("getDestinations answer has no payload list")
    for destination in listed:
        if not isinstance(destination, Mapping):
            continue
        resource = destination.get("resource")
        sqs = resource.get("sqs") if isinstance(resource, Mapping) else None
        if isinstance(sqs, Mapping) and sqs.get("arn") == arn:
            return _text(destination, "destinationId", "getDestinations entry")
    return None


async def _destination(grantless: ChannelHttpClient, queue: SqsQueue) -> tuple[str, bool]:
    found = await _find_destination(grantless, queue.arn)
    if found is not None:
        return found, False
    try:
        body = await grantless.request_json(
            "POST", DESTINATIONS_PATH, operation="createDestination", json=destination_body(queue)
        )
    except ConflictError:
        # Registered meanwhile (or not listed yet): the ARN has a destination.
        found = await _find_destination(grantless, queue.arn)
        if found is None:
            raise
        return found, False
    return _text(_payload(body, "createDestination answer"), "destinationId", "destination"), True


async def subscribe_order_changes(
    api: ChannelHttpClient,
    grantless: ChannelHttpClient,
    queue: SqsQueue,
    marketplace_ids: Sequence[str],
) -> OptIn:
    """Register ``queue`` and subscribe the seller to ``ORDER_CHANGE`` (idempotent).

    ``api`` carries the seller's token, ``grantless`` the grantless one. Raises
    :class:`~channelsync.errors.ConflictError` when the seller is subscribed to
    another destination already (the events would go to another queue).
    """
    destination_id, destination_created = await _destination(grantless, queue)
    path = f"/notifications/v1/subscriptions/{ORDER_CHANGE}"
    try:
        body = await api.request_json(
            "POST",
            path,
            operation="createSubscription",
            json=subscription_body(destination_id, marketplace_ids),
        )
        created = True
    except ConflictError:
        body = await api.request_json("GET", path, operation="getSubscription")
        created = False
    subscription = _payload(body, "subscription answer")
    subscribed_to = _text(subscription, "destinationId", "subscription")
    if subscribed_to != destination_id:
        raise ConflictError(
            f"the seller is subscribed to ORDER_CHANGE already, to destination {subscribed_to}, "
            f"not to {destination_id} ({queue.arn}); delete that subscription "
            "(deleteSubscriptionById) and enable events again",
            operation="createSubscription",
        )
    return OptIn(
        arn=queue.arn,
        destination_id=destination_id,
        destination_created=destination_created,
        subscription_id=_text(subscription, "subscriptionId", "subscription"),
        subscription_created=created,
        marketplace_ids=tuple(marketplace_ids),
    )
