"""The ``amazon`` channel: settings and declared facts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channelsync.channels import Channel, ChannelSettings

__all__ = ["REGION_ENDPOINTS", "AmazonChannel", "AmazonSettings"]

#: The production SP-API endpoint of each selling region.
REGION_ENDPOINTS: dict[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}


class AmazonSettings(ChannelSettings):
    """Non-secret settings of an ``amazon`` channel entry in ``channelsync.toml``."""

    region: Literal["na", "eu", "fe"]
    marketplace_ids: tuple[str, ...] = Field(min_length=1)
    seller_id: str = Field(min_length=1)
    lwa_client_id: str = Field(min_length=1, description="Login with Amazon client id.")
    fulfillment: Literal["MFN", "AFN"] = "MFN"
    token_url: str = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret


class AmazonChannel(Channel[AmazonSettings]):
    """Amazon seller accounts through the Selling Partner API (merchant-fulfilled and FBA)."""

    type_name: ClassVar[str] = "amazon"
    display_name: ClassVar[str] = "Amazon (Selling Partner API)"
    settings_model: ClassVar[type[ChannelSettings]] = AmazonSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("lwa_client_secret", "refresh_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ()
    status_note: ClassVar[str] = (
        "registration only: the marketplace capabilities are not implemented yet"
    )

    @property
    def base_url(self) -> str:
        """The configured override, else the region's production endpoint."""
        return self.settings.base_url or REGION_ENDPOINTS[self.settings.region]
