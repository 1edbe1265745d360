"""The fake's Notifications API v1: destinations and subscriptions.

Written from the Notifications model (``notifications.json``) and the reference
(``push.md`` §3.1): destinations are the application's and their operations are
grantless (an LWA ``client_credentials`` token with the notifications scope);
``createSubscription`` and ``getSubscription`` act for the seller and need the
seller's token, while ``getSubscriptionById`` and ``deleteSubscriptionById`` are
grantless again. Amazon answers a second destination for the same queue ARN with 409
``Conflict`` and a second subscription of the seller to a type with 409
``StateConflict`` (both as reported by developers; the model lists the 409s).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from channelsync_amazon.fake.wire import FakeRequestError, read_json

if TYPE_CHECKING:
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = [
    "GRANTLESS_OPERATIONS",
    "NOTIFICATION_OPERATIONS",
    "NOTIFICATION_TYPES",
    "FakeDestination",
    "FakeSubscription",
    "handle",
]

Answer = tuple[int, object]

#: Operations that take a grantless token (scope ``sellingpartnerapi::notifications``).
GRANTLESS_OPERATIONS = frozenset(
    {
        "createDestination",
        "getDestinations",
        "getDestination",
        "deleteDestination",
        "getSubscriptionById",
        "deleteSubscriptionById",
    }
)
NOTIFICATION_OPERATIONS = GRANTLESS_OPERATIONS | {"createSubscription", "getSubscription"}
#: Notification types the fake accepts subscriptions to (a subset of Amazon's).
NOTIFICATION_TYPES = frozenset(
    {
        "ORDER_CHANGE",
        "LISTINGS_ITEM_STATUS_CHANGE",
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
        "ANY_OFFER_CHANGED",
        "FEED_PROCESSING_FINISHED",
        "REPORT_PROCESSING_FINISHED",
        "FBA_INVENTORY_AVAILABILITY_CHANGES",
    }
)
#: ``eventFilterType`` a notification type supports.
_FILTER_TYPES = {"ORDER_CHANGE": "ORDER_CHANGE", "ANY_OFFER_CHANGED": "ANY_OFFER_CHANGED"}
_ORDER_CHANGE_TYPES = frozenset({"OrderStatusChange", "BuyerRequestedChange", "DeliveryTipChange"})
_SQS_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")
_CONFLICT = "The resource specified conflicts with the current state."


@dataclass
class FakeDestination:
    """A destination of the application: an SQS queue ARN."""

    destination_id: str
    name: str
    arn: str

    def render(self) -> dict[str, Any]:
        """Return the model's ``Destination``."""
        return {
            "destinationId": self.destination_id,
            "name": self.name,
            "resource": {"sqs": {"arn": self.arn}},
        }


@dataclass
class FakeSubscription:
    """The seller's subscription to one notification type."""

    subscription_id: str
    notification_type: str
    payload_version: str
    destination_id: str
    processing_directive: dict[str, Any] | None = None

    def render(self) -> dict[str, Any]:
        """Return the model's ``Subscription``."""
        rendered: dict[str, Any] = {
            "subscriptionId": self.subscription_id,
            "payloadVersion": self.payload_version,
            "destinationId": self.destination_id,
        }
        if self.processing_directive is not None:
            rendered["processingDirective"] = self.processing_directive
        return rendered

    def event_filter(self) -> Mapping[str, Any]:
        """Return the subscription's ``eventFilter`` (empty without one)."""
        directive = self.processing_directive or {}
        found = directive.get("eventFilter")
        return found if isinstance(found, Mapping) else {}


def _object(request: httpx.Request) -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise FakeRequestError(400, "InvalidInput", "The request body must be a JSON object")
    return body


def _type(notification_type: str) -> str:
    if notification_type not in NOTIFICATION_TYPES:
        raise FakeRequestError(
            400, "InvalidInput", f"{notification_type} is not a valid notificationType"
        )
    return notification_type


def createDestination(fake: FakeSellingPartner, request: httpx.Request) -> Answer:
    """Register an SQS queue ARN (409 when the application registered it already)."""
    body = _object(request)
    name = body.get("name")
    specification = body.get("resourceSpecification")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise FakeRequestError(400, "InvalidInput", "name is required (at most 256 characters)")
    if not isinstance(specification, dict) or len(specification) != 1:
        raise FakeRequestError(
            400, "InvalidInput", "resourceSpecification takes exactly one of sqs, eventBridge"
        )
    sqs = specification.get("sqs")
    arn = sqs.get("arn") if isinstance(sqs, dict) else None
    if not isinstance(arn, str) or len(arn) > 1000 or not _SQS_ARN.match(arn):
        raise FakeRequestError(400, "InvalidInput", "resourceSpecification.sqs.arn is not valid")
    if any(d.arn == arn for d in fake.destinations.values()):
        raise FakeRequestError(
            409,
            "Conflict",
            f"A destination with arn {arn} already exists for the application",
        )
    destination = FakeDestination(fake.request_id(), name, arn)
    fake.destinations[destination.destination_id] = destination
    return 200, {"payload": destination.render()}


def getDestinations(fake: FakeSellingPartner, request: httpx.Request) -> Answer:
    """List the application's destinations."""
    return 200, {"payload": [d.render() for d in fake.destinations.values()]}


def _destination(fake: FakeSellingPartner, destination_id: str) -> FakeDestination:
    destination = fake.destinations.get(destination_id)
    if destination is None:
        raise FakeRequestError(404, "NotFound", f"Destination {destination_id} was not found")
    return destination


def getDestination(fake: FakeSellingPartner, request: httpx.Request, destination_id: str) -> Answer:
    """Return one destination."""
    return 200, {"payload": _destination(fake, destination_id).render()}


def deleteDestination(
    fake: FakeSellingPartner, request: httpx.Request, destination_id: str
) -> Answer:
    """Delete a destination that no subscription uses."""
    _destination(fake, destination_id)
    if any(s.destination_id == destination_id for s in fake.subscriptions.values()):
        raise FakeRequestError(409, "Conflict", "Destination has subscriptions")
    del fake.destinations[destination_id]
    return 200, {}


def _directive(notification_type: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
    directive = body.get("processingDirective")
    if directive is None:
        return None
    event_filter = directive.get("eventFilter") if isinstance(directive, dict) else None
    if not isinstance(event_filter, dict):
        raise FakeRequestError(400, "InvalidInput", "processingDirective.eventFilter is invalid")
    if event_filter.get("eventFilterType") != _FILTER_TYPES.get(notification_type):
        raise FakeRequestError(
            400, "InvalidInput", f"eventFilterType is not supported for {notification_type}"
        )
    changes = event_filter.get("orderChangeTypes")
    if changes is not None and (
        not isinstance(changes, list) or any(c not in _ORDER_CHANGE_TYPES for c in changes)
    ):
        raise FakeRequestError(400, "InvalidInput", "orderChangeTypes has an invalid value")
    marketplaces = event_filter.get("marketplaceIds")
    if marketplaces is not None and (
        not isinstance(marketplaces, list) or not all(isinstance(m, str) for m in marketplaces)
    ):
        raise FakeRequestError(400, "InvalidInput", "marketplaceIds must be a list of ids")
    return dict(directive)


def createSubscription(
    fake: FakeSellingPartner, request: httpx.Request, notification_type: str
) -> Answer:
    """Subscribe the seller to a notification type (409 when already subscribed)."""
    _type(notification_type)
    body = _object(request)
    version = body.get("payloadVersion")
    destination_id = body.get("destinationId")
    if not isinstance(version, str) or not isinstance(destination_id, str):
        raise FakeRequestError(400, "InvalidInput", "payloadVersion and destinationId are required")
    if version != "1.0":
        raise FakeRequestError(400, "InvalidInput", f"payloadVersion {version} is not supported")
    directive = _directive(notification_type, body)
    if destination_id not in fake.destinations:
        raise FakeRequestError(400, "InvalidInput", f"Destination {destination_id} was not found")
    if notification_type in fake.subscriptions:
        raise FakeRequestError(409, "StateConflict", _CONFLICT)
    subscription = FakeSubscription(
        fake.request_id(), notification_type, version, destination_id, directive
    )
    fake.subscriptions[notification_type] = subscription
    fake.subscriptions_changed()
    return 200, {"payload": subscription.render()}


def getSubscription(
    fake: FakeSellingPartner, request: httpx.Request, notification_type: str
) -> Answer:
    """Return the seller's subscription to a type."""
    subscription = fake.subscriptions.get(_type(notification_type))
    if subscription is None:
        raise FakeRequestError(404, "NotFound", f"No subscription for {notification_type}")
    return 200, {"payload": subscription.render()}


def _by_id(fake: FakeSellingPartner, notification_type: str, subscription_id: str) -> str:
    found = fake.subscriptions.get(_type(notification_type))
    if found is None or found.subscription_id != subscription_id:
        raise FakeRequestError(404, "NotFound", f"Subscription {subscription_id} was not found")
    return notification_type


def getSubscriptionById(
    fake: FakeSellingPartner, request: httpx.Request, notification_type: str, subscription_id: str
) -> Answer:
    """Return a subscription by its id."""
    kind = _by_id(fake, notification_type, subscription_id)
    return 200, {"payload": fake.subscriptions[kind].render()}


def deleteSubscriptionById(
    fake: FakeSellingPartner, request: httpx.Request, notification_type: str, subscription_id: str
) -> Answer:
    """Delete a subscription: nothing of its type is published any more."""
    kind = _by_id(fake, notification_type, subscription_id)
    del fake.subscriptions[kind]
    fake.subscriptions_changed()
    return 200, {}


_HANDLERS: dict[str, Callable[..., Answer]] = {
    "createDestination": createDestination,
    "getDestinations": getDestinations,
    "getDestination": getDestination,
    "deleteDestination": deleteDestination,
    "createSubscription": createSubscription,
    "getSubscription": getSubscription,
    "getSubscriptionById": getSubscriptionById,
    "deleteSubscriptionById": deleteSubscriptionById,
}


def handle(
    fake: FakeSellingPartner, request: httpx.Request, operation: str, args: tuple[str, ...]
) -> Answer:
    """Answer one Notifications API operation."""
    return _HANDLERS[operation](fake, request, *args)
