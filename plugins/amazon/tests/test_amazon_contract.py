"""The channel contract, run against the amazon fake."""

from __future__ import annotations

from channelsync_amazon import AmazonChannel
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake

from channelsync.clock import FakeClock
from channelsync.testing.contract import ChannelContract
from channelsync.testing.fakes import FakeMarketplace


class TestAmazonContract(ChannelContract):
    channel_class = AmazonChannel
    settings = DEMO_SETTINGS
    credentials = DEMO_CREDENTIALS

    def make_fake(self, clock: FakeClock) -> FakeMarketplace:
        return demo_fake(clock=clock)
