"""A faithful fake of the TOP gateway, for tests and the demo.

``demo_fake()`` returns a fake seeded with the shared demo catalogue that accepts
``DEMO_CREDENTIALS``; point a channel at it with ``DEMO_SETTINGS`` plus a
``base_url`` (``server.url + "/router/rest"`` when served on loopback).

``fake.serve_events()`` serves the shop's TMC messages; set the channel's
``events_url`` to its ``.url``. The demo shop counts as opted in from the moment its
events are served (a fake built with ``FakeTop(...)`` waits for
``taobao.tmc.user.permit``).
"""

from __future__ import annotations

from channelsync.clock import Clock
from channelsync.testing.fakes import FaultInjector, demo_catalogue
from channelsync_tmall.fake.methods import CARRIERS
from channelsync_tmall.fake.server import FakeTop
from channelsync_tmall.fake.tmc_server import TmcServer

__all__ = ["CARRIERS", "DEMO_CREDENTIALS", "DEMO_SETTINGS", "FakeTop", "TmcServer", "demo_fake"]

DEMO_SETTINGS: dict[str, object] = {"app_key": "10000001", "sign_method": "hmac-sha256"}

DEMO_CREDENTIALS: dict[str, str] = {
    "app_secret": "fake-top-app-secret-not-real",
    "session": "fake-top-session-not-real",
    "refresh_token": "fake-top-refresh-token-not-real",
}


def demo_fake(
    *, clock: Clock | None = None, faults: FaultInjector | None = None, seed: int = 0
) -> FakeTop:
    """Return a fake TOP gateway with the demo catalogue that accepts the demo credentials."""
    fake = FakeTop(
        app_key=str(DEMO_SETTINGS["app_key"]),
        app_secret=DEMO_CREDENTIALS["app_secret"],
        session=DEMO_CREDENTIALS["session"],
        refresh_token=DEMO_CREDENTIALS["refresh_token"],
        clock=clock,
        faults=faults,
        seed=seed,
    )
    fake.tmc_permit_on_serve = True
    fake.seed_catalogue(demo_catalogue())
    return fake
