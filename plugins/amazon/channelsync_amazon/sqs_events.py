"""The events capability: a listener on the seller's SQS queue, and ``enable_events``.

The queue, notifications and subscription calls themselves are in
:mod:`channelsync_amazon.events`; this mixin wires them to the channel's settings,
credentials and transports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channelsync.channels import EventsCapability
from channelsync.credentials import ChannelCredentials
from channelsync.errors import ConfigurationError
from channelsync.http import ChannelHttpClient
from channelsync_amazon.auth import REFRESH_MARGIN, SpApiAuth
from channelsync_amazon.events import (
    EVENT_TOPICS,
    AwsKeys,
    SqsListener,
    SqsQueue,
    request_grantless_token,
    require_events_extra,
    subscribe_order_changes,
)
from channelsync_amazon.gateway import AmazonSettings, SpApiGateway

__all__ = ["SpApiEvents"]


class SpApiEvents(SpApiGateway, EventsCapability):
    """Reads SP-API notifications from ``events_url``; subscribes the seller to ORDER_CHANGE."""

    event_topics: Sequence[str] = EVENT_TOPICS

    def __init__(
        self,
        name: str,
        settings: AmazonSettings,
        credentials: ChannelCredentials,
        **options: Any,
    ) -> None:
        super().__init__(name, settings, credentials, **options)
        if self.settings.events:
            self._events_queue()
            require_events_extra(name)

    def _events_queue(self) -> SqsQueue:
        queue = self.settings.events_queue
        if queue is None:
            raise ConfigurationError(
                "events = true needs events_url, the URL of the SQS queue Amazon writes "
                "the seller's notifications to",
                channel=self.name,
                field="events_url",
            )
        return queue

    def listen(self) -> SqsListener:
        """Return a listener on the ``events_url`` queue (not yet polling).

        Raises :class:`~channelsync.errors.ConfigurationError` without ``events_url`` or
        the ``events`` extra, and :class:`~channelsync.errors.MissingCredentialError`
        without the AWS keys.
        """
        queue = self._events_queue()
        require_events_extra(self.name)
        return SqsListener(
            self.name,
            self.clock,
            queue=queue,
            keys=AwsKeys.from_credentials(self.credentials),
            seller_id=self.settings.seller_id,
            redactor=self.redactor,
            wait_seconds=self.settings.events_wait_seconds,
        )

    async def enable_events(self) -> str:
        """Register the queue as a destination and subscribe the seller to ORDER_CHANGE."""
        queue = self._events_queue()
        grantless = ChannelHttpClient(
            channel=self.name,
            base_url=self.base_url,
            limits=self.limits,
            auth=SpApiAuth(
                lambda: request_grantless_token(
                    self.plain,
                    self.token_url,
                    self.settings.lwa_client_id,
                    self.credentials.require("lwa_client_secret"),
                ),
                clock=self.clock,
                margin=REFRESH_MARGIN,
                redactor=self.redactor,
            ),
            classifier=self.build_classifier(),
            retry_policy=self.retry_policy,
            clock=self.clock,
            metrics=self.metrics,
            redactor=self.redactor,
            rate_limiter=self.http.rate_limiter,
            transport=self._transport,
            **self.http_client_options(),
        )
        async with grantless:
            opted_in = await subscribe_order_changes(
                self.http, grantless, queue, self.settings.marketplace_ids
            )
        return opted_in.summary(self.name)
