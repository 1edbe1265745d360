"""The channel contract, run against the fake PDD gateway."""

from __future__ import annotations

from channelsync_pinduoduo import PinduoduoChannel
from channelsync_pinduoduo.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, demo_fake

from channelsync.clock import FakeClock
from channelsync.testing.contract import ChannelContract
from channelsync.testing.fakes import FakeMarketplace


class TestPinduoduoContract(ChannelContract):
    channel_class = PinduoduoChannel
    settings = DEMO_SETTINGS
    credentials = DEMO_CREDENTIALS

    def make_fake(self, clock: FakeClock) -> FakeMarketplace:
        return demo_fake(clock=clock)
