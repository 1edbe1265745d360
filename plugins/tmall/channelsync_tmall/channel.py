"""The ``tmall`` channel: settings and declared facts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channelsync.channels import Channel, ChannelSettings

__all__ = ["TmallChannel", "TmallSettings"]


class TmallSettings(ChannelSettings):
    """Non-secret settings of a ``tmall`` channel entry in ``channelsync.toml``."""

    app_key: str = Field(min_length=1, description="The app's AppKey.")
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = "md5"


class TmallChannel(Channel[TmallSettings]):
    """Tmall and Taobao shops through the Taobao Open Platform (TOP) gateway."""

    type_name: ClassVar[str] = "tmall"
    display_name: ClassVar[str] = "Tmall / Taobao (TOP)"
    settings_model: ClassVar[type[ChannelSettings]] = TmallSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "session")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://gw.api.taobao.com/router/rest"
    status_note: ClassVar[str] = (
        "registration only: the marketplace capabilities are not implemented yet"
    )
