"""The settings of a ``pinduoduo`` channel entry in ``channelsync.toml``."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from channelsync.channels import ChannelSettings

__all__ = ["BACKUP_EVENTS_URL", "DEFAULT_EVENTS_URL", "PinduoduoSettings"]

#: PDD's message service (PMC), as the official SDK connects to it.
DEFAULT_EVENTS_URL = "wss://message-api.pinduoduo.com"

#: The backup domain the official SDK also lists for the message service.
BACKUP_EVENTS_URL = "wss://message-api.yangkeduo.com"


class PinduoduoSettings(ChannelSettings):
    """Non-secret settings of a ``pinduoduo`` channel entry in ``channelsync.toml``."""

    client_id: str = Field(min_length=1, description="The app's client_id.")
    events_url: str = Field(
        default=DEFAULT_EVENTS_URL,
        description="The PMC message service that pushes the shop's order and refund events "
        "(with `events = true`); the backup domain is `wss://message-api.yangkeduo.com`. "
        "`ws://` only inside PDD's cloud or for a local fake.",
    )

    @field_validator("events_url")
    @classmethod
    def _check_events_url(cls, value: str) -> str:
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(
                f"events_url {value!r} is not a ws:// or wss:// URL with a host "
                f"(PDD's is {DEFAULT_EVENTS_URL})"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"events_url {value!r} must not have a query or a fragment")
        return text.rstrip("/")
