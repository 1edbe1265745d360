"""The ``jd`` channel: settings and declared facts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channelsync.channels import Channel, ChannelSettings

__all__ = ["JdChannel", "JdSettings"]


class JdSettings(ChannelSettings):
    """Non-secret settings of a ``jd`` channel entry in ``channelsync.toml``."""

    app_key: str = Field(min_length=1, description="The app's app_key.")
    sign_method: Literal["md5", "hmacmd5", "hmacsha256"] = "md5"


class JdChannel(Channel[JdSettings]):
    """JD POP shops through the JD Open Platform (JOS) routerjson gateway."""

    type_name: ClassVar[str] = "jd"
    display_name: ClassVar[str] = "JD (JOS)"
    settings_model: ClassVar[type[ChannelSettings]] = JdSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://api.jd.com/routerjson"
    status_note: ClassVar[str] = (
        "registration only: the marketplace capabilities are not implemented yet"
    )
