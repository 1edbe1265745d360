"""A fake JD (JOS) shop for tests and the demo, written from the wire reference."""

from __future__ import annotations

from channelsync.clock import Clock
from channelsync.testing.fakes import FaultInjector, demo_catalogue
from channelsync_jd.fake.server import DEFAULT_CARRIERS, FakeJos

__all__ = ["DEFAULT_CARRIERS", "DEMO_CREDENTIALS", "DEMO_SETTINGS", "FakeJos", "demo_fake"]

#: Settings of a ``jd`` channel entry pointing at the fake (``base_url`` added by the caller).
DEMO_SETTINGS: dict[str, object] = {"app_key": "FAKEJDAPPKEY0001", "sign_method": "md5"}
#: Credentials the demo fake accepts: obviously not real.
DEMO_CREDENTIALS: dict[str, str] = {
    "app_secret": "fake-jd-app-secret-not-real",
    "access_token": "fake-jd-access-token-not-real",
    "refresh_token": "fake-jd-refresh-token-not-real",
}


def demo_fake(
    *, clock: Clock | None = None, faults: FaultInjector | None = None, seed: int = 0
) -> FakeJos:
    """Return a fake JD shop seeded with :func:`demo_catalogue` accepting the demo credentials."""
    fake = FakeJos(
        clock=clock,
        faults=faults,
        seed=seed,
        app_key=str(DEMO_SETTINGS["app_key"]),
        app_secret=DEMO_CREDENTIALS["app_secret"],
        access_token=DEMO_CREDENTIALS["access_token"],
        refresh_token=DEMO_CREDENTIALS["refresh_token"],
    )
    fake.seed_catalogue(demo_catalogue())
    return fake
