"""The fake seller's side of notifications: subscriptions, AWS keys and the served queue.

A mixin of :class:`~channelsync_amazon.fake.marketplace.FakeSellingPartner`: the state
it uses (destinations, subscriptions, ``push``, ``events``) is set up there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from channelsync.testing.fakes import FakeStore, PushQueue
from channelsync_amazon.fake.aws_keys import AwsKey
from channelsync_amazon.fake.notifications import FakeDestination, FakeSubscription

if TYPE_CHECKING:
    from channelsync_amazon.fake.events import FakeEventsServer
    from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["NotificationsMixin"]


class NotificationsMixin:
    """Subscriptions as the fake seller holds them, and :meth:`serve_events`."""

    store: FakeStore
    marketplace_ids: tuple[str, ...]
    destinations: dict[str, FakeDestination]
    subscriptions: dict[str, FakeSubscription]
    aws_keys: dict[str, AwsKey]
    push: PushQueue
    events: FakeEventsServer | None

    def request_id(self) -> str:
        """Return a fresh id in Amazon's UUID shape (the marketplace's own)."""
        raise NotImplementedError

    def add_aws_key(self, access_key_id: str, secret_access_key: str) -> None:
        """Let these AWS keys read the served queue (any other key is refused)."""
        self.aws_keys[access_key_id] = AwsKey(access_key_id, secret_access_key)

    def subscriptions_changed(self) -> None:
        """Permit on ``push`` the subscribed types whose destination is the served queue."""
        served = self.events.arn if self.events is not None else None
        self.push.permit(
            kind
            for kind, subscription in self.subscriptions.items()
            if (destination := self.destinations.get(subscription.destination_id)) is not None
            and destination.arn == served
        )

    def subscribe(self, notification_type: str, destination_arn: str) -> FakeSubscription:
        """Opt the seller in directly (as a shop enabled earlier), with the usual filter."""
        with self.store.lock:
            destination = next(
                (d for d in self.destinations.values() if d.arn == destination_arn), None
            )
            if destination is None:
                destination = FakeDestination(self.request_id(), "channelsync", destination_arn)
                self.destinations[destination.destination_id] = destination
            directive = None
            if notification_type == "ORDER_CHANGE":
                directive = {
                    "eventFilter": {
                        "eventFilterType": "ORDER_CHANGE",
                        "orderChangeTypes": ["OrderStatusChange", "BuyerRequestedChange"],
                        "marketplaceIds": list(self.marketplace_ids),
                    }
                }
            subscription = FakeSubscription(
                self.request_id(), notification_type, "1.0", destination.destination_id, directive
            )
            self.subscriptions[notification_type] = subscription
            self.subscriptions_changed()
            return subscription

    def serve_events(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        visibility_timeout: int = 2,
        subscribed: bool = True,
    ) -> FakeEventsServer:
        """Serve the notifications queue (moto's SQS) on loopback; ``.url`` is the queue URL.

        With ``subscribed`` the seller is already subscribed to ``ORDER_CHANGE`` on that
        queue, as a shop whose events were enabled; without it nothing is published
        until ``createSubscription``. Needs the plugin's ``demo`` extra (moto).
        """
        try:
            from channelsync_amazon.fake.events import FakeEventsServer  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                f"serving the fake's SQS queue needs moto: pip install "
                f"'channelsync-amazon[demo]' ({exc})"
            ) from None
        server = FakeEventsServer(
            cast("FakeSellingPartner", self),
            host=host,
            port=port,
            visibility_timeout=visibility_timeout,
        )
        server.start()
        with self.store.lock:
            self.events = server
            self.subscriptions_changed()
        if subscribed:
            self.subscribe("ORDER_CHANGE", server.arn)
        return server
