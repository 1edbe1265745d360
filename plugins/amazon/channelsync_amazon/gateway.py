"""SP-API as a channel base: settings, the two transports, LWA auth and error classifying.

Capability mixins build on :class:`SpApiGateway`: SP-API calls go through ``http``
(with the seller's access token), LWA and pre-signed S3 URLs through :attr:`plain`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import httpx
from pydantic import Field, ValidationInfo, field_validator

from channelsync.channels import Channel, ChannelSettings
from channelsync.http import ChannelHttpClient, ResponseClassifier
from channelsync_amazon.auth import REFRESH_MARGIN, SpApiAuth, refresh_access_token
from channelsync_amazon.errors import SpApiClassifier
from channelsync_amazon.events import (
    AWS_CREDENTIAL_FIELDS,
    MAX_WAIT_SECONDS,
    SqsQueue,
    parse_queue_url,
)

__all__ = ["DEFAULT_TOKEN_URL", "REGION_ENDPOINTS", "AmazonSettings", "SpApiGateway"]

#: The production SP-API endpoint of each selling region.
REGION_ENDPOINTS: dict[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret


class AmazonSettings(ChannelSettings):
    """Non-secret settings of an ``amazon`` channel entry in ``channelsync.toml``."""

    region: Literal["na", "eu", "fe"]
    marketplace_ids: tuple[str, ...] = Field(min_length=1)
    seller_id: str = Field(min_length=1)
    lwa_client_id: str = Field(min_length=1, description="Login with Amazon client id.")
    fulfillment: Literal["MFN", "AFN"] = "MFN"
    orders_api: Literal["2026-01-01", "v0"] = Field(
        default="2026-01-01",
        description='The Orders API version orders are read with: `"2026-01-01"` '
        '(`searchOrders`, items with each order) or the deprecated `"v0"` (`getOrders` '
        "and one `getOrderItems` call per order), which Amazon retires on 2027-03-27.",
    )
    token_url: str = Field(
        default=DEFAULT_TOKEN_URL,
        description="LWA token endpoint: an absolute URL, or a path on base_url (test servers).",
    )

    events_region: str | None = Field(
        default=None,
        description="The AWS region of the `events_url` queue, when its host does not name "
        "one (a local test server, a private endpoint name).",
    )
    events_url: str | None = Field(
        default=None,
        description="The SQS queue URL Amazon writes the seller's notifications to "
        "(`https://sqs.<region>.amazonaws.com/<account>/<queue>`); required with "
        "`events = true`. The queue is read with the credentials `aws_access_key_id` and "
        "`aws_secret_access_key` (and `aws_session_token` for temporary keys).",
    )
    events_wait_seconds: int = Field(
        default=MAX_WAIT_SECONDS,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="How long one SQS receive waits for a notification (`WaitTimeSeconds`, "
        "0 to 20). 20, a long poll, gets each notification at once with the fewest "
        "requests; 0 polls once a second.",
    )

    @field_validator("token_url")
    @classmethod
    def _check_token_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "/")):
            raise ValueError(f"token_url {value!r} must be an http(s) URL or a path")
        return value

    @field_validator("events_url")
    @classmethod
    def _check_events_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return parse_queue_url(value, region=info.data.get("events_region")).url

    @property
    def events_queue(self) -> SqsQueue | None:
        """The queue ``events_url`` names, or ``None`` when it is unset."""
        if self.events_url is None:
            return None
        return parse_queue_url(self.events_url, region=self.events_region)


class SpApiGateway(Channel[AmazonSettings]):
    """A seller account behind SP-API: the token-carrying transport and the token-less one."""

    settings_model: ClassVar[type[ChannelSettings]] = AmazonSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("lwa_client_secret", "refresh_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = AWS_CREDENTIAL_FIELDS

    @property
    def base_url(self) -> str:
        """The configured override, else the region's production endpoint."""
        return self.settings.base_url or REGION_ENDPOINTS[self.settings.region]

    @property
    def token_url(self) -> str:
        """The LWA token endpoint (a path in ``token_url`` is taken on ``base_url``)."""
        url = self.settings.token_url
        return self.base_url + url if url.startswith("/") else url

    @property
    def marketplace_id(self) -> str:
        """The home marketplace: listings, prices and stock are written there."""
        return self.settings.marketplace_ids[0]

    @property
    def plain(self) -> ChannelHttpClient:
        """The transport for calls that carry no access token (LWA, pre-signed S3 URLs)."""
        if self._plain is None:
            return self.http  # raises ChannelNotOpenError with the usual message
        return self._plain

    # -- seams ----------------------------------------------------------------------

    _plain: ChannelHttpClient | None = None
    auth: SpApiAuth | None = None

    def build_auth(self) -> httpx.Auth:
        """Return the LWA header auth; its refreshes go through :attr:`plain`."""
        self.auth = SpApiAuth(
            lambda: refresh_access_token(
                self.plain, self.token_url, self.credentials, self.settings.lwa_client_id
            ),
            clock=self.clock,
            margin=REFRESH_MARGIN,
            redactor=self.redactor,
        )
        return self.auth

    def build_classifier(self) -> ResponseClassifier:
        """Return the SP-API / LWA error classifier."""
        return SpApiClassifier(self.clock)

    async def open(self) -> None:
        """Open the SP-API transport and the token-less one, sharing one rate limiter."""
        if self.is_open:
            return
        await super().open()
        plain = ChannelHttpClient(
            channel=self.name,
            base_url=self.base_url,
            limits=self.limits,
            classifier=self.build_classifier(),
            retry_policy=self.retry_policy,
            clock=self.clock,
            metrics=self.metrics,
            redactor=self.redactor,
            rate_limiter=self.http.rate_limiter,
            rate_limit_from_response=None,
            transport=self._transport,
            **self.http_client_options(),
        )
        await plain.__aenter__()
        self._plain = plain

    async def close(self) -> None:
        """Close both transports."""
        plain, self._plain = self._plain, None
        if plain is not None:
            await plain.aclose()
        await super().close()
