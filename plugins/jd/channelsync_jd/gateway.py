"""The JOS gateway as a channel base: settings, signing, token refresh and the call.

Capability mixins build on :class:`JosGateway` and talk to JD only through
:meth:`JosGateway.call` (one method, its success root) and :meth:`JosGateway._write_one`
(one single-item write, its result).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field

from channelsync.channels import Channel, ChannelSettings
from channelsync.errors import ChannelError
from channelsync.http import AccessToken, ResponseClassifier, TokenCache
from channelsync.models import ListingStatusChange, PriceChange, StockUpdate, UpdateResult
from channelsync_jd.codes import is_item_level
from channelsync_jd.envelope import JosClassifier, decode_body, flag, result_root, text_of
from channelsync_jd.methods import EXPIRY_FIELD, TOKEN_REFRESH_MARGIN
from channelsync_jd.oauth import refresh_access_token, refresh_url_for
from channelsync_jd.signing import PARAM_JSON, JosSigner, ParamValue, SignMethod, param_json

__all__ = ["JdSettings", "JosGateway"]

logger = logging.getLogger("channelsync.jd")


class JdSettings(ChannelSettings):
    """Non-secret settings of a ``jd`` channel entry in ``channelsync.toml``."""

    app_key: str = Field(min_length=1, description="The app's app_key.")
    sign_method: SignMethod = "md5"


class JosGateway(Channel[JdSettings]):
    """A shop behind the JOS ``routerjson`` gateway: every call is one signed POST."""

    settings_model: ClassVar[type[ChannelSettings]] = JdSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "access_token")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://api.jd.com/routerjson"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: TokenCache | None = None

    def build_classifier(self) -> ResponseClassifier:
        """Read JOS envelopes and error codes."""
        return JosClassifier(self.clock)

    def build_auth(self) -> httpx.Auth:
        """Sign every call with the shop's token, refreshing it where a refresh token exists."""
        can_refresh = bool(self.credentials.get("refresh_token"))
        self.tokens = TokenCache(
            self._refresh if can_refresh else None,
            initial=AccessToken(
                self.credentials.require("access_token"), expires_in=self._stored_lifetime()
            ),
            clock=self.clock,
            margin=TOKEN_REFRESH_MARGIN,
            redactor=self.redactor,
        )
        return JosSigner(
            self.tokens,
            app_key=self.settings.app_key,
            secret=lambda: self.credentials.require("app_secret"),
            sign_method=self.settings.sign_method,
            clock=self.clock,
        )

    def _stored_lifetime(self) -> float | None:
        stored = self.credentials.get(EXPIRY_FIELD)
        if not stored:
            return None
        try:
            expires_at = datetime.fromisoformat(stored)
        except ValueError:
            logger.warning("channel %r: ignoring an unreadable %s", self.name, EXPIRY_FIELD)
            return None
        if expires_at.tzinfo is None:
            return None
        return (expires_at - self.clock.now()).total_seconds()

    async def _refresh(self) -> AccessToken:
        refresh_token = self.credentials.require("refresh_token")
        issued = await refresh_access_token(
            url=refresh_url_for(self.settings.base_url),
            app_key=self.settings.app_key,
            app_secret=self.credentials.require("app_secret"),
            refresh_token=refresh_token,
            channel=self.name,
            transport=self._transport,
        )
        self.redactor.add_secret(issued.access_token)
        self.credentials.set("access_token", issued.access_token)
        if issued.refresh_token and issued.refresh_token != refresh_token:
            self.redactor.add_secret(issued.refresh_token)
            self.credentials.set("refresh_token", issued.refresh_token)
        if issued.expires_in is not None:
            expires_at = self.clock.now() + timedelta(seconds=issued.expires_in)
            self.credentials.set(EXPIRY_FIELD, expires_at.isoformat())
        logger.info("channel %r: access token refreshed", self.name)
        return AccessToken(issued.access_token, expires_in=issued.expires_in)

    async def call(self, method: str, params: Mapping[str, ParamValue]) -> dict[str, Any]:
        """Call one JOS method with its business parameters; return its success root."""
        response = await self.http.request(
            "POST",
            self.base_url,
            operation=method,
            data={"method": method, PARAM_JSON: param_json(params)},
        )
        return result_root(decode_body(response, method), method)

    async def _write_one(
        self,
        update: StockUpdate | PriceChange | ListingStatusChange,
        method: str,
        params: Mapping[str, ParamValue],
    ) -> UpdateResult:
        """Send one single-item write; the item's own refusal is a result, not an error."""
        try:
            root = await self.call(method, params)
        except ChannelError as error:
            if not is_item_level(error):
                raise
            return UpdateResult.failure(update, error.message, code=error.code)
        success = flag(root.get("success"))
        if success is None and "success" not in root:
            # Methods without a result flag succeed with root code "0".
            return UpdateResult.success(update)
        if not success:
            reason = text_of(root, "message", "errorMessage", "en_desc", "zh_desc")
            return UpdateResult.failure(
                update, reason or f"{method} refused the update", code=text_of(root, "code")
            )
        return UpdateResult.success(update)
