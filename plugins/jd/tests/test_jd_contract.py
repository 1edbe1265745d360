"""The channel contract, run against the jd fake."""

from __future__ import annotations

from channelsync_jd import JdChannel
from channelsync_jd.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake

from channelsync.clock import FakeClock
from channelsync.testing.contract import ChannelContract
from channelsync.testing.fakes import FakeMarketplace


class TestJdContract(ChannelContract):
    channel_class = JdChannel
    settings = DEMO_SETTINGS
    credentials = DEMO_CREDENTIALS

    def make_fake(self, clock: FakeClock) -> FakeMarketplace:
        return demo_fake(clock=clock)
