"""Reading SP-API notifications, the queue URL and the events settings (no network)."""

from __future__ import annotations

import copy
import importlib.util
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.events import (
    NotificationError,
    SqsQueue,
    parse_notification,
    parse_queue_url,
)
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS
from channelsync_amazon.fake.schemas import validate_notification
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from channelsync.channels import Capability, EventKind
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.errors import ConfigurationError, MissingCredentialError

#: The example of Amazon's OrderChangeNotification schema (reference push.md §3.2).
SCHEMA_EXAMPLE: dict[str, Any] = {
    "NotificationVersion": "1.0",
    "NotificationType": "ORDER_CHANGE",
    "PayloadVersion": "1.0",
    "EventTime": "2020-01-11T00:09:53.109Z",
    "Payload": {
        "OrderChangeNotification": {
            "NotificationLevel": "OrderLevel",
            "SellerId": "A3TH9S8BH6GOGM",
            "AmazonOrderId": "903-8868176-2219830",
            "OrderChangeType": "BuyerRequestedChange",
            "OrderChangeTrigger": {
                "TimeOfOrderChange": "2022-11-29T19:42:04.284Z",
                "ChangeReason": "Buyer Requested Cancel",
            },
            "Summary": {
                "MarketplaceId": "ATVPDKIKX0DER",
                "OrderStatus": "Unshipped",
                "PurchaseDate": "2022-07-13T19:42:04.284Z",
                "DestinationPostalCode": "48110",
                "FulfillmentType": "MFN",
                "OrderType": "StandardOrder",
                "NumberOfItemsShipped": 0,
                "NumberOfItemsUnshipped": 10,
                "OrderItems": [
                    {
                        "OrderItemId": "OIID34853450",
                        "SellerSKU": "SellerSKUID1",
                        "SupplySourceId": "d7679e14-031b-4ab3-a81b-ec4fc7a460b3",
                        "OrderItemStatus": "Unshipped",
                        "Quantity": 10,
                        "QuantityShipped": 0,
                        "IsBuyerRequestedCancel": True,
                    }
                ],
            },
        }
    },
    "NotificationMetadata": {
        "ApplicationId": "app-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746",
        "SubscriptionId": "subscription-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746",
        "PublishTime": "2020-07-13T19:42:04.284Z",
        "NotificationId": "d0e9e693-c3ad-4373-979f-ed4ec98dd746",
    },
}

LISTING_STATUS: dict[str, Any] = {
    "NotificationVersion": "1.0",
    "NotificationType": "LISTINGS_ITEM_STATUS_CHANGE",
    "PayloadVersion": "1.0",
    "EventTime": "2021-02-03T18:59:30.194Z",
    "Payload": {
        "SellerId": "A3AYAZLIQ7AX77",
        "MarketplaceId": "ATVPDKIKX0DER",
        "Asin": "BT6RZ7JM4H",
        "Sku": "NLS-SHOES-03",
        "CreatedDate": "2021-02-03T18:50:26.196Z",
        "Status": ["BUYABLE", "DISCOVERABLE"],
    },
    "NotificationMetadata": {
        "ApplicationId": "amzn1.sellerapps.app.f108f511-eeac-46a6-b125-bcb752069ed0",
        "SubscriptionId": "93b098e1-c42-2f45-93a1-78910a6a8369",
        "PublishTime": "2021-02-03T18:59:30.194Z",
        "NotificationId": "8e009934-da2c-4f9c-9bc7-93f23b7e1f60",
    },
}


def _with(document: dict[str, Any], path: str, value: object) -> str:
    changed = copy.deepcopy(document)
    *parents, leaf = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is _DROP:
        del target[leaf]
    else:
        target[leaf] = value
    return json.dumps(changed)


_DROP = object()


# -- envelopes ----------------------------------------------------------------------------


def test_the_schema_example_is_an_order_event_keyed_by_the_order_id() -> None:
    notification = parse_notification(json.dumps(SCHEMA_EXAMPLE))
    event = notification.event(delivery="receipt-1")
    assert event.kind is EventKind.ORDER
    assert event.key == "903-8868176-2219830"
    assert event.topic == "ORDER_CHANGE"
    assert event.message_id == "d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert event.delivery == "receipt-1"
    # TimeOfOrderChange, not EventTime, and aware UTC with the milliseconds kept.
    assert event.occurred_at == datetime(2022, 11, 29, 19, 42, 4, 284000, tzinfo=UTC)
    assert notification.seller_id == "A3TH9S8BH6GOGM"
    assert notification.marketplace_id == "ATVPDKIKX0DER"
    validate_notification(SCHEMA_EXAMPLE)  # and the fake's schema agrees


def test_a_null_time_of_order_change_falls_back_to_the_event_time() -> None:
    body = _with(SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.OrderChangeTrigger", None)
    with pytest.raises(NotificationError, match="OrderChangeTrigger"):
        parse_notification(body)
    trigger = {"TimeOfOrderChange": None, "ChangeReason": "x"}
    body = _with(SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.OrderChangeTrigger", trigger)
    event = parse_notification(body).event()
    assert event.occurred_at == datetime(2020, 1, 11, 0, 9, 53, 109000, tzinfo=UTC)


def test_a_new_merchant_order_says_what_it_takes() -> None:
    # The schema example: an unshipped MFN order of ten SellerSKUID1.
    assert parse_notification(json.dumps(SCHEMA_EXAMPLE)).event().units == {"SellerSKUID1": 10}
    summary = "Payload.OrderChangeNotification.Summary"
    for status in ("Pending", "PendingAvailability"):
        body = _with(SCHEMA_EXAMPLE, f"{summary}.OrderStatus", status)
        assert parse_notification(body).event().units == {"SellerSKUID1": 10}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # Shipped, cancelled: the order's read settles what it holds.
        ("Summary.OrderStatus", "Shipped"),
        ("Summary.OrderStatus", "Canceled"),
        ("Summary.OrderStatus", "PartiallyShipped"),
        # Amazon ships FBA orders from its own stock.
        ("Summary.FulfillmentType", "AFN"),
    ],
)
def test_no_units_are_taken_from_an_order_that_is_not_a_new_merchant_order(
    path: str, value: str
) -> None:
    body = _with(SCHEMA_EXAMPLE, f"Payload.OrderChangeNotification.{path}", value)
    assert parse_notification(body).event().units is None


@pytest.mark.parametrize(
    "spelling", ["LISTINGS_ITEM_STATUS_CHANGE", "LISTINGS_ITEM_STATUS_CHANGED"]
)
def test_both_spellings_of_the_listing_status_type_are_listing_events(spelling: str) -> None:
    event = parse_notification(_with(LISTING_STATUS, "NotificationType", spelling)).event()
    assert event.kind is EventKind.LISTING
    assert event.key == "NLS-SHOES-03"
    assert event.topic == "LISTINGS_ITEM_STATUS_CHANGE"
    assert event.occurred_at == datetime(2021, 2, 3, 18, 59, 30, 194000, tzinfo=UTC)


def test_an_mfn_quantity_change_is_a_listing_event_keyed_by_the_sku() -> None:
    document = copy.deepcopy(LISTING_STATUS)
    document["NotificationType"] = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
    document["Payload"] = {
        "SellerId": "AXXXXXXXXXXXXX",
        "FulfillmentChannelCode": "DEFAULT",
        "Sku": "MY/SKU 1",
        "Quantity": 99,
    }
    validate_notification(document)
    event = parse_notification(json.dumps(document)).event()
    assert (event.kind, event.key, event.topic) == (
        EventKind.LISTING,
        "MY/SKU 1",
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
    )


def test_ids_are_kept_as_the_exact_text() -> None:
    past_float = str(2**53 + 1)
    body = _with(SCHEMA_EXAMPLE, "NotificationMetadata.NotificationId", past_float)
    assert parse_notification(body).event().message_id == "9007199254740993"
    # The schema says string: a number is refused, not rounded through a float.
    body = _with(SCHEMA_EXAMPLE, "NotificationMetadata.NotificationId", 2**53 + 1)
    with pytest.raises(NotificationError, match="NotificationId"):
        parse_notification(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json {", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"NotificationType": NaN}', "non-JSON constant"),
        (_with(SCHEMA_EXAMPLE, "NotificationMetadata", _DROP), "NotificationMetadata"),
        (_with(SCHEMA_EXAMPLE, "EventTime", "yesterday"), "EventTime"),
        (_with(SCHEMA_EXAMPLE, "EventTime", "9999-12-31T23:59:59-23:59"), "EventTime"),
        (_with(SCHEMA_EXAMPLE, "NotificationType", "ANY_OFFER_CHANGED"), "ANY_OFFER_CHANGED"),
        (
            _with(SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.AmazonOrderId", _DROP),
            "AmazonOrderId",
        ),
        (
            _with(SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.Summary.OrderItems", "x"),
            "OrderItems",
        ),
        (_with(SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.AmazonOrderId", " 1\n"), "blanks"),
        (_with(LISTING_STATUS, "Payload.Status", "BUYABLE"), "Status"),
    ],
)
def test_unusable_messages_are_refused_with_a_reason(body: str | bytes, reason: str) -> None:
    with pytest.raises(NotificationError, match=reason) as raised:
        parse_notification(body)
    assert "48110" not in str(raised.value)  # the body itself is never quoted


def test_unknown_enum_values_are_read_as_text() -> None:
    body = _with(
        SCHEMA_EXAMPLE, "Payload.OrderChangeNotification.OrderChangeType", "DeliveryTipChange"
    )
    assert parse_notification(body).event().key == "903-8868176-2219830"
    with pytest.raises(ValueError, match="OrderChangeType"):
        validate_notification(json.loads(body))  # the fake keeps to today's schema


# -- the queue URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "region"),
    [
        (
            "https://sqs.us-east-2.amazonaws.com/444455556666/queue1",
            "https://sqs.us-east-2.amazonaws.com",
            "us-east-2",
        ),
        (
            "https://queue.amazonaws.com/444455556666/queue1",
            "https://queue.amazonaws.com",
            "us-east-1",
        ),
        (
            "https://eu-west-1.queue.amazonaws.com/444455556666/queue1",
            "https://eu-west-1.queue.amazonaws.com",
            "eu-west-1",
        ),
        (
            "https://vpce-0a1b2c3d.sqs.ap-northeast-1.vpce.amazonaws.com/444455556666/queue1",
            "https://vpce-0a1b2c3d.sqs.ap-northeast-1.vpce.amazonaws.com",
            "ap-northeast-1",
        ),
    ],
)
def test_the_endpoint_region_and_arn_come_from_the_queue_url(
    url: str, endpoint: str, region: str
) -> None:
    queue = parse_queue_url(url)
    assert (queue.endpoint_url, queue.region, queue.account_id, queue.name) == (
        endpoint,
        region,
        "444455556666",
        "queue1",
    )
    assert queue.arn == f"arn:aws:sqs:{region}:444455556666:queue1"


def test_the_reference_example_arn() -> None:
    queue = parse_queue_url("https://sqs.us-east-2.amazonaws.com/444455556666/queue1")
    assert queue.arn == "arn:aws:sqs:us-east-2:444455556666:queue1"


def test_a_loopback_queue_needs_its_region_given() -> None:
    url = "http://127.0.0.1:4566/123456789012/events"
    with pytest.raises(ValueError, match="events_region"):
        parse_queue_url(url)
    queue = parse_queue_url(url, region="us-east-1")
    assert queue == SqsQueue(url, "http://127.0.0.1:4566", "us-east-1", "123456789012", "events")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://sqs.us-east-1.amazonaws.com/123456789012/q", "must be https"),
        ("https://sqs.us-east-1.amazonaws.com/q", "12-digit account"),
        ("https://sqs.us-east-1.amazonaws.com/12345/q", "12-digit account"),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", "FIFO"),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/bad%20name", "queue name"),
        ("arn:aws:sqs:us-east-1:123456789012:q", "not an SQS queue URL"),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/q?x=1", "query string"),
    ],
)
def test_a_bad_queue_url_is_refused_with_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_queue_url(url)


# -- settings and credentials -------------------------------------------------------------


def _store(**secrets: str) -> CredentialStore:
    return CredentialStore(
        backend=MemorySecretBackend({("az", k): v for k, v in secrets.items()}), environ={}
    )


def _settings(**values: object) -> AmazonSettings:
    return AmazonSettings.model_validate({**DEMO_SETTINGS, **values})


def test_events_without_a_queue_url_is_a_configuration_error_naming_the_field() -> None:
    with pytest.raises(ConfigurationError) as raised:
        AmazonChannel("az", _settings(events=True), _store().for_channel("az"))
    assert raised.value.channel == "az"
    assert raised.value.field == "events_url"
    assert "channel 'az'" in str(raised.value)


def test_a_bad_events_url_is_a_settings_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="events_url"):
        _settings(events_url="https://sqs.us-east-1.amazonaws.com/1/q")
    settings = _settings(events_url="http://localhost:9324/123456789012/q")
    assert settings.events_queue is not None
    assert settings.events_queue.region == "us-east-1"  # DEMO_SETTINGS' events_region


def test_a_missing_events_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "aiobotocore" else real(name, *a),
    )
    settings = _settings(events=True, events_url="http://127.0.0.1:1/123456789012/q")
    with pytest.raises(ConfigurationError, match=r"channelsync-amazon\[events\]") as raised:
        AmazonChannel("az", settings, _store().for_channel("az"))
    assert raised.value.field == "events"


def test_the_aws_keys_are_optional_credentials_required_to_listen() -> None:
    assert AmazonChannel.optional_credential_fields == (
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    )
    assert AmazonChannel.supports(Capability.EVENTS)
    settings = _settings(events=True, events_url="http://127.0.0.1:1/123456789012/q")
    channel = AmazonChannel("az", settings, _store().for_channel("az"))
    with pytest.raises(MissingCredentialError, match="aws_access_key_id"):
        channel.listen()
    channel = AmazonChannel("az", settings, _store(**DEMO_CREDENTIALS).for_channel("az"))
    listener = channel.listen()
    assert listener.queue.url == "http://127.0.0.1:1/123456789012/q"
    assert DEMO_CREDENTIALS["aws_secret_access_key"] not in repr(listener._keys)
    assert listener.max_messages == 10
    assert listener.wait_seconds == 20


def test_the_aws_keys_are_never_settings() -> None:
    with pytest.raises(ValidationError):
        _settings(aws_secret_access_key="x")


# -- damaged bodies -----------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _damage(document: dict[str, Any], data: st.DataObject) -> object:
    """Replace, drop or retype one value somewhere in ``document``."""
    damaged = copy.deepcopy(document)
    node: Any = damaged
    while isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict) or data.draw(st.booleans()):
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(_JSON)
            break
        node = node[key]
    return damaged


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_envelope_is_refused_or_read_never_anything_else(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from([SCHEMA_EXAMPLE, LISTING_STATUS]))
    body = json.dumps(_damage(source, data))
    try:
        event = parse_notification(body).event(delivery="h")
    except NotificationError:
        return
    assert event.message_id
    assert event.key
    assert event.occurred_at is not None
    assert event.occurred_at.utcoffset() is not None


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_are_refused_with_a_notification_error(body: bytes | str) -> None:
    with pytest.raises(NotificationError):
        parse_notification(body)
