"""The channel contract, run against the fake Douyin gateway."""

from __future__ import annotations

from channelsync.clock import FakeClock
from channelsync.testing.contract import ChannelContract

from channelsync_douyin import DouyinChannel
from channelsync_douyin.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeDouyin, demo_fake


class TestDouyinContract(ChannelContract):
    channel_class = DouyinChannel
    settings = DEMO_SETTINGS
    credentials = DEMO_CREDENTIALS

    def make_fake(self, clock: FakeClock) -> FakeDouyin:
        return demo_fake(clock=clock)
