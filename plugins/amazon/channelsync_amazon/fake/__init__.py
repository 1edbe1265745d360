"""A faithful fake of Amazon's Selling Partner API, LWA and feed document storage.

``FakeSellingPartner`` mounts in-process (``fake.transport()``) for tests and serves
on loopback HTTP (``fake.serve()``) for the demo. ``DEMO_SETTINGS`` and
``DEMO_CREDENTIALS`` configure a channel for the fake made by :func:`demo_fake`
(add ``base_url`` pointing at the fake; for events, ``events = true`` and
``events_url`` = ``fake.serve_events().url``: the fake AWS keys and the queue's region
are here already).
"""

from __future__ import annotations

from channelsync.clock import Clock
from channelsync.testing.fakes import FaultInjector, demo_catalogue
from channelsync_amazon.fake.marketplace import FakeSellingPartner

__all__ = ["DEMO_CREDENTIALS", "DEMO_SETTINGS", "DEMO_SYNC", "FakeSellingPartner", "demo_fake"]

#: Engine settings for the demo channel: the shared demo catalogue is priced in CNY and
#: the fake sells in USD, so prices are converted (an illustrative rate, not a live one).
DEMO_SYNC: dict[str, object] = {"price": {"currency": "USD", "rates": {"CNY": "0.138"}}}

#: Channel settings for the demo fake (without ``base_url``). The token path is taken
#: on ``base_url``, so one loopback server answers both SP-API and LWA.
DEMO_SETTINGS: dict[str, object] = {
    "region": "na",
    "marketplace_ids": ["ATVPDKIKX0DER"],
    "seller_id": "A1FAKESELLER00",
    "lwa_client_id": "amzn1.application-oa2-client.fake-demo",
    "fulfillment": "MFN",
    "token_url": "/auth/o2/token",
    # The served SQS queue is on loopback, whose host names no AWS region.
    "events_region": "us-east-1",
}

#: Credentials the demo fake accepts (obviously not real).
DEMO_CREDENTIALS: dict[str, str] = {
    "lwa_client_secret": "fake-lwa-client-secret-not-real",
    "refresh_token": "Atzr|fake-refresh-token-not-real",
    # Read the fake's SQS queue (moto on loopback): nothing here reaches AWS.
    "aws_access_key_id": "AKIAFAKEDEMO00000000",
    "aws_secret_access_key": "fake-aws-secret-access-key-not-real",
}


def demo_fake(
    *, clock: Clock | None = None, faults: FaultInjector | None = None, seed: int = 0
) -> FakeSellingPartner:
    """Return a fake seeded with ``demo_catalogue()`` that accepts the demo credentials."""
    fake = FakeSellingPartner(
        client_id=str(DEMO_SETTINGS["lwa_client_id"]),
        client_secret=DEMO_CREDENTIALS["lwa_client_secret"],
        refresh_token=DEMO_CREDENTIALS["refresh_token"],
        seller_id=str(DEMO_SETTINGS["seller_id"]),
        clock=clock,
        faults=faults,
        seed=seed,
    )
    fake.add_aws_key(
        DEMO_CREDENTIALS["aws_access_key_id"], DEMO_CREDENTIALS["aws_secret_access_key"]
    )
    fake.seed_catalogue(demo_catalogue())
    return fake
