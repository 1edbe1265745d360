"""A fake Douyin Shop gateway for tests and the demo, with a seeded demo shop."""

from __future__ import annotations

from channelsync.clock import Clock
from channelsync.testing.fakes import FaultInjector, demo_catalogue

from channelsync_douyin.fake.marketplace import FakeDouyin

__all__ = ["DEMO_CREDENTIALS", "DEMO_SETTINGS", "FakeDouyin", "demo_fake"]

#: Channel settings for a config entry pointing at the fake (add ``base_url``).
DEMO_SETTINGS: dict[str, object] = {"app_key": "7000000000000000001"}
#: Obviously fake credentials the demo fake accepts.
DEMO_CREDENTIALS: dict[str, str] = {
    "app_secret": "demo-douyin-app-secret-not-real",
    "access_token": "demo-douyin-access-token-not-real",
    "refresh_token": "demo-douyin-refresh-token-not-real",
}


def demo_fake(
    *, clock: Clock | None = None, faults: FaultInjector | None = None, seed: int = 0
) -> FakeDouyin:
    """Return a fake gateway seeded with :func:`demo_catalogue`, accepting the demo credentials."""
    fake = FakeDouyin(
        app_key=str(DEMO_SETTINGS["app_key"]),
        app_secret=DEMO_CREDENTIALS["app_secret"],
        access_token=DEMO_CREDENTIALS["access_token"],
        refresh_token=DEMO_CREDENTIALS["refresh_token"],
        clock=clock,
        faults=faults,
        seed=seed,
    )
    fake.seed_catalogue(demo_catalogue())
    return fake
