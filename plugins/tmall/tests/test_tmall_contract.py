"""The channel contract, run against the tmall fake."""

from __future__ import annotations

from channelsync_tmall import TmallChannel
from channelsync_tmall.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake

from channelsync.clock import FakeClock
from channelsync.testing.contract import ChannelContract
from channelsync.testing.fakes import FakeMarketplace


class TestTmallContract(ChannelContract):
    channel_class = TmallChannel
    settings = DEMO_SETTINGS
    credentials = DEMO_CREDENTIALS

    def make_fake(self, clock: FakeClock) -> FakeMarketplace:
        return demo_fake(clock=clock)
