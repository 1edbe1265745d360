"""Amazon's pushed events: SP-API notifications read from the seller's SQS queue.

``notifications`` reads the envelopes, ``queue`` the queue URL, ``aws`` holds the
aiobotocore client (the ``events`` extra), ``listener`` polls the queue and
``subscribe`` opts the seller in (``createDestination``, ``createSubscription``).
"""

from __future__ import annotations

from channelsync_amazon.events.aws import (
    AWS_CREDENTIAL_FIELDS,
    EVENTS_EXTRA,
    AwsKeys,
    require_events_extra,
)
from channelsync_amazon.events.listener import MAX_WAIT_SECONDS, SqsConnection, SqsListener
from channelsync_amazon.events.notifications import (
    EVENT_TOPICS,
    LISTINGS_MFN_QUANTITY,
    LISTINGS_STATUS,
    ORDER_CHANGE,
    Notification,
    NotificationError,
    parse_notification,
)
from channelsync_amazon.events.queue import SqsQueue, parse_queue_url
from channelsync_amazon.events.subscribe import (
    NOTIFICATIONS_SCOPE,
    ORDER_CHANGE_TYPES,
    OptIn,
    request_grantless_token,
    subscribe_order_changes,
)

__all__ = [
    "AWS_CREDENTIAL_FIELDS",
    "EVENTS_EXTRA",
    "EVENT_TOPICS",
    "LISTINGS_MFN_QUANTITY",
    "LISTINGS_STATUS",
    "MAX_WAIT_SECONDS",
    "NOTIFICATIONS_SCOPE",
    "ORDER_CHANGE",
    "ORDER_CHANGE_TYPES",
    "AwsKeys",
    "Notification",
    "NotificationError",
    "OptIn",
    "SqsConnection",
    "SqsListener",
    "SqsQueue",
    "parse_notification",
    "parse_queue_url",
    "request_grantless_token",
    "require_events_extra",
    "subscribe_order_changes",
]
