"""The TOP gateway as a channel base: settings, signing, envelopes, session refresh.

Capability mixins build on :class:`TopGateway` and talk to TOP only through
:meth:`TopGateway.call`, which posts one method, checks the envelope and returns the
method's success object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator

from channelsync.channels import Channel, ChannelSettings
from channelsync.errors import AuthenticationError, ChannelError, DataError, PermanentChannelError
from channelsync.http import AccessToken, ResponseClassifier, TokenCache, parse_json
from channelsync_tmall.envelope import TopClassifier, unwrap
from channelsync_tmall.signing import TopSigner

__all__ = ["TOKEN_REFRESH_METHOD", "TmallSettings", "TopGateway"]

logger = logging.getLogger("channelsync.tmall")

TOKEN_REFRESH_METHOD = "taobao.top.auth.token.refresh"  # noqa: S105 - a method name

ParamValue = str | int | None


class TmallSettings(ChannelSettings):
    """Non-secret settings of a ``tmall`` channel entry in ``channelsync.toml``."""

    app_key: str = Field(min_length=1, description="The app's AppKey.")
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = "md5"
    events_url: str = Field(
        default="ws://mc.api.taobao.com/",
        description="The TMC (message service) WebSocket endpoint the events listener "
        "connects to: production `ws://mc.api.taobao.com/`, the sandbox "
        "`ws://mc.api.tbsandbox.com/`, or a local fake.",
    )
    group_name: str = Field(
        default="default",
        min_length=1,
        max_length=32,
        description="The TMC message group the events listener consumes (`default` unless "
        "the app added groups with taobao.tmc.group.add).",
    )

    @field_validator("events_url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        if scheme not in ("ws", "wss") or not host:
            raise ValueError(f"must be a ws:// or wss:// URL, got {value!r}")
        return value


class TopGateway(Channel[TmallSettings]):
    """A shop behind the TOP gateway: every call is one signed ``method`` POST.

    The session (access token) is sent as the signed ``session`` parameter. When the
    shop's grant came with a ``refresh_token``, a session TOP rejects (code 27) is
    refreshed through ``taobao.top.auth.token.refresh``, stored back in the credential
    store, and the call is replayed once.
    """

    settings_model: ClassVar[type[ChannelSettings]] = TmallSettings
    credential_fields: ClassVar[tuple[str, ...]] = ("app_secret", "session")
    optional_credential_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)
    default_base_url: ClassVar[str] = "https://gw.api.taobao.com/router/rest"
    #: Seconds before a known expiry at which the session is refreshed ahead of time.
    refresh_margin: ClassVar[float] = 300.0

    tokens: TokenCache | None = None

    def build_auth(self) -> httpx.Auth:
        """Return the TOP signer, with session refresh when a refresh token is stored."""
        can_refresh = bool(self.credentials.get("refresh_token"))
        self.tokens = TokenCache(
            self._refresh_session if can_refresh else None,
            initial=AccessToken(self.credentials.require("session")),
            clock=self.clock,
            margin=self.refresh_margin,
            redactor=self.redactor,
        )
        return TopSigner(
            self.tokens,
            app_key=self.settings.app_key,
            secret=self.credentials.require("app_secret"),
            sign_method=self.settings.sign_method,
            clock=self.clock,
        )

    def build_classifier(self) -> ResponseClassifier:
        """Return the classifier that reads TOP's ``error_response``."""
        return TopClassifier(self.clock)

    async def call(self, method: str, params: Mapping[str, ParamValue]) -> dict[str, Any]:
        """Call ``method`` with ``params`` (empty ones are not sent); return its success object.

        The rate-limit key, and the operation in errors and metrics, is the method name.
        """
        data = {"method": method}
        data.update({k: str(v) for k, v in params.items() if v is not None and v != ""})
        response = await self.http.request("POST", self.base_url, operation=method, data=data)
        body = parse_json(response, channel=self.name, operation=method)
        try:
            return unwrap(body, method, operation=method)
        except ChannelError as error:
            raise error.with_context(channel=self.name, operation=method) from None

    async def _refresh_session(self) -> AccessToken:
        """Exchange the stored refresh token for a new session and store both."""
        refresh_token = self.credentials.require("refresh_token")
        try:
            root = await self.call(TOKEN_REFRESH_METHOD, {"refresh_token": refresh_token})
        except PermanentChannelError as error:
            raise AuthenticationError(
                "the session expired and could not be refreshed; authorize the shop again "
                f"({error.message})",
                channel=self.name,
                operation=TOKEN_REFRESH_METHOD,
                code=error.code,
                request_id=error.request_id,
            ) from None
        issued = _token_result(root)
        access = issued.get("access_token")
        if not isinstance(access, str) or not access:
            raise DataError(
                "token_result has no access_token",
                channel=self.name,
                operation=TOKEN_REFRESH_METHOD,
            )
        self.redactor.add_secret(access)
        rotated = issued.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh_token:
            self.redactor.add_secret(rotated)
            self.credentials.set("refresh_token", rotated)
        self.credentials.set("session", access)
        expires_in = issued.get("expires_in")
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float | str) and str(expires_in).isdigit()
            else None
        )
        logger.info("refreshed the TOP session", extra={"channel": self.name})
        return AccessToken(access, lifetime)


def _token_result(root: Mapping[str, Any]) -> dict[str, Any]:
    """Read ``token_result``: a JSON document sent as a string."""
    raw = root.get("token_result")
    try:
        issued = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        issued = None
    if not isinstance(issued, dict):
        raise DataError("token_result is not a JSON object", operation=TOKEN_REFRESH_METHOD)
    return issued
