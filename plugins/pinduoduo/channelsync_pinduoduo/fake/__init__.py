"""A faithful fake of the PDD gateway, for tests and the demo.

``demo_fake()`` returns a fake seeded with the shared demo catalogue that accepts
:data:`DEMO_CREDENTIALS`; point a channel at it with :data:`DEMO_SETTINGS` plus the
fake's URL (``fake.serve().url``) or mount it in-process with ``fake.transport()``.
Its message service is ``fake.serve_events()``: set the channel's ``events = true`` and
``events_url`` to that server's ``url``; the demo shop is already opted in to it.
"""

from __future__ import annotations

from channelsync.clock import Clock
from channelsync.testing.fakes import FaultInjector, demo_catalogue
from channelsync_pinduoduo.fake.marketplace import FakePdd
from channelsync_pinduoduo.fake.pmc import APP_TOPICS, FakePmcServer

__all__ = [
    "APP_TOPICS",
    "DEMO_CREDENTIALS",
    "DEMO_SETTINGS",
    "FakePdd",
    "FakePmcServer",
    "demo_fake",
]

#: Channel settings for a config entry pointing at the fake (add its ``base_url``).
DEMO_SETTINGS: dict[str, object] = {"client_id": "fake-pdd-client-0001"}

#: Credentials the demo fake accepts; obviously not real.
DEMO_CREDENTIALS: dict[str, str] = {
    "client_secret": "fake-pdd-client-secret-0000",
    "access_token": "fake-pdd-access-token-0000",
    "refresh_token": "fake-pdd-refresh-token-0000",
}


def demo_fake(
    *, clock: Clock | None = None, faults: FaultInjector | None = None, seed: int = 0
) -> FakePdd:
    """Return a fake PDD shop holding the demo catalogue, accepting the demo credentials."""
    fake = FakePdd(
        clock=clock,
        faults=faults,
        seed=seed,
        client_id=str(DEMO_SETTINGS["client_id"]),
        client_secret=DEMO_CREDENTIALS["client_secret"],
        access_token=DEMO_CREDENTIALS["access_token"],
        refresh_token=DEMO_CREDENTIALS["refresh_token"],
    )
    fake.seed_catalogue(demo_catalogue())
    # The demo shop was opted in to PMC already (an unset permit: every topic of the app).
    fake.permit_events()
    return fake
