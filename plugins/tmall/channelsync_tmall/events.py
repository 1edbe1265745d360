"""The events capability of a TOP shop: Taobao's message service (TMC).

:meth:`TopEvents.listen` returns a :class:`~channelsync_tmall.tmc.listener.TmcListener`
for the channel's ``events_url`` and ``group_name``, signed with the app's key and
secret (the credentials the gateway already uses). :meth:`TopEvents.enable_events`
opts the shop in through ``taobao.tmc.user.permit`` with every topic the plugin maps.

The newer official SDK sends a ``token`` from ``taobao.tmc.auth.get`` in the CONNECT
when it connects to ``mc.api.taobao.com``; so does this listener (for that host only).
Whether production still accepts a CONNECT without it is not documented.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

import httpx

from channelsync.channels import EventKind, EventsCapability
from channelsync.errors import DataError
from channelsync.http.client import tls_verification
from channelsync_tmall.gateway import TopGateway
from channelsync_tmall.tmc.listener import TmcEndpoint, TmcListener
from channelsync_tmall.tmc.topics import EVENT_TOPICS, topic_kind

__all__ = ["AUTH_METHOD", "PERMIT_METHOD", "TopEvents"]

PERMIT_METHOD = "taobao.tmc.user.permit"
AUTH_METHOD = "taobao.tmc.auth.get"


class TopEvents(TopGateway, EventsCapability):
    """Listen to the shop's TMC messages; opt the shop in with ``taobao.tmc.user.permit``."""

    event_topics: Sequence[str] = EVENT_TOPICS
    #: Hosts for which the CONNECT carries a ``taobao.tmc.auth.get`` token (as the SDK does).
    tmc_auth_hosts: ClassVar[frozenset[str]] = frozenset({"mc.api.taobao.com"})

    def listen(self) -> TmcListener:
        """Return a TMC listener for this shop (not yet connected).

        Where the CONNECT needs a ``taobao.tmc.auth.get`` token, the channel must be
        open while the listener runs: the token is fetched through the gateway.
        """
        url = self.settings.events_url
        host = httpx.URL(url).host
        return TmcListener(
            self.name,
            self.clock,
            TmcEndpoint(
                url=url,
                app_key=self.settings.app_key,
                secret=self.credentials.require("app_secret"),
                group_name=self.settings.group_name,
                ssl_context=self._events_tls(url),
            ),
            auth_token=self.tmc_auth_token if host in self.tmc_auth_hosts else None,
        )

    def _events_tls(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("wss://"):
            return None
        verify = tls_verification(
            self.name,
            url,
            verify_tls=self.settings.verify_tls,
            ca_bundle=self.settings.ca_bundle,
            allow_insecure_tls=self.settings.allow_insecure_tls,
        )
        if isinstance(verify, ssl.SSLContext):
            return verify
        if verify:
            return None  # the library's default context: the system's trust store
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def tmc_auth_token(self) -> str:
        """Return a connection token from ``taobao.tmc.auth.get`` (app-signed, no session)."""
        root = await self.call(AUTH_METHOD, {"group": self.settings.group_name})
        token = root.get("result")
        if not isinstance(token, str) or not token:
            raise DataError(
                "the answer has no result token", channel=self.name, operation=AUTH_METHOD
            )
        self.redactor.add_secret(token)
        return token

    async def enable_events(self) -> str:
        """Permit every mapped topic for this shop (``taobao.tmc.user.permit``, which replaces)."""
        root = await self.call(PERMIT_METHOD, {"topics": ",".join(self.event_topics)})
        if root.get("is_success") is not True:
            raise DataError(
                "taobao.tmc.user.permit did not answer is_success=true",
                channel=self.name,
                operation=PERMIT_METHOD,
            )
        kinds = Counter(topic_kind(topic) for topic in self.event_topics)
        return (
            f"taobao.tmc.user.permit: the shop now sends {len(self.event_topics)} TMC topics "
            f"({kinds[EventKind.ORDER]} trade, {kinds[EventKind.REFUND]} refund, "
            f"{kinds[EventKind.LISTING]} item) to app {self.settings.app_key}; this list "
            "replaced any earlier one. The app must subscribe these topics in the TOP console."
        )
