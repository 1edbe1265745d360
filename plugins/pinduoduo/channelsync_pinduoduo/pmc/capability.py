"""The events capability of a ``pinduoduo`` channel: PMC listening and the shop's opt-in."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from channelsync.channels.events import EventsCapability
from channelsync.errors import InvalidRequestError
from channelsync.http.client import tls_verification
from channelsync_pinduoduo._calls import Refused, require_success
from channelsync_pinduoduo.pmc.frames import PMC_TOPICS
from channelsync_pinduoduo.pmc.listener import PmcListener, PmcTimers

if TYPE_CHECKING:
    from channelsync.clock import Clock
    from channelsync.credentials import ChannelCredentials
    from channelsync_pinduoduo.settings import PinduoduoSettings

__all__ = ["PERMIT_METHOD", "PmcEvents"]

PERMIT_METHOD = "pdd.pmc.user.permit"


class PmcEvents(EventsCapability):
    """Pinduoduo's message service (PMC) as a channel's events capability.

    One PMC connection serves a whole app (``client_id``): it is signed with the
    app's ``client_secret``, and carries the messages of every shop that was opted in
    with :meth:`enable_events`. ``pmc_timers`` are the client's heartbeat and
    liveness timers (the official SDK's by default).
    """

    event_topics: Sequence[str] = PMC_TOPICS
    pmc_timers: PmcTimers = PmcTimers()

    if TYPE_CHECKING:
        name: str
        settings: PinduoduoSettings
        clock: Clock
        credentials: ChannelCredentials
        call: Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]

    def listen(self) -> PmcListener:
        """Return a listener on ``events_url``, signed with ``client_id`` and ``client_secret``."""
        settings = self.settings
        return PmcListener(
            self.name,
            self.clock,
            events_url=settings.events_url,
            client_id=settings.client_id,
            client_secret=self.credentials.require("client_secret"),
            tls=self._events_tls(),
            timers=self.pmc_timers,
        )

    def _events_tls(self) -> ssl.SSLContext | None:
        settings = self.settings
        if not settings.events_url.startswith("wss:"):
            return None
        verify = tls_verification(
            self.name,
            "https:" + settings.events_url.removeprefix("wss:"),
            verify_tls=settings.verify_tls,
            ca_bundle=settings.ca_bundle,
            allow_insecure_tls=settings.allow_insecure_tls,
        )
        if isinstance(verify, ssl.SSLContext):
            return verify
        if verify:
            return None  # the library's default: the system's trust store, verified
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        return insecure

    async def enable_events(self) -> str:
        """Opt the shop in with ``pdd.pmc.user.permit`` for the mapped topics.

        PDD replaces the shop's topic list on every call, so calling it again is
        harmless. Without a list PDD would deliver every topic the app subscribed to
        in the console; the channel names its own, which must be among those.
        """
        topics = list(self.event_topics)
        root = await self.call(PERMIT_METHOD, {"topics": ",".join(topics)})
        try:
            require_success(root, PERMIT_METHOD)
        except Refused:
            raise InvalidRequestError(
                "PDD did not opt the shop in to PMC (is_success=false); check that the app "
                "subscribed to these topics in the PDD console: " + ", ".join(topics),
                channel=self.name,
                operation=PERMIT_METHOD,
            ) from None
        return (
            f"{PERMIT_METHOD}: shop opted in to {len(topics)} PMC topics "
            f"({', '.join(topics)}); messages arrive on {self.settings.events_url}"
        )
