"""The ``pinduoduo`` channel: settings and declared facts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from channelsync.channels import Channel, ChannelSettings

__all__ = ["PinduoduoChannel", "PinduoduoSettings"]


class PinduoduoSettings(ChannelSettings):
    """Non-secret settings of a ``pinduoduo`` channel entry in ``channelsync.toml``."""

    client_id: str = Field(min_length=1, description="The app's client_id.")


class PinduoduoChannel(Channel[PinduoduoSettings]):
    """Pinduoduo shops through the PDD open platform gateway."""

    type_name: ClassVar[str] = "pinduoduo"
    display_name: ClassVar[str] = "Pinduoduo"
    settings_model: ClassVar[type[ChannelSettings]] = PinduoduoSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("client_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://gw-api.pinduoduo.com/api/router"
    status_note: ClassVar[str] = (
        "registration only: the marketplace capabilities are not implemented yet"
    )
