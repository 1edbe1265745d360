"""A changed allocation or price setting reaches every SKU, not only those that move."""

from __future__ import annotations

from decimal import Decimal

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, PriceRule
from channelsync.engine.sync import SyncEngine
from channelsync.models import Money
from channelsync.store import Store
from channelsync.testing import MemoryChannel


async def test_a_new_share_and_markup_are_sent_after_a_restart(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    await SyncEngine(store, [tmall, jd], clock=clock).run_cycle()
    assert tmall.listing("MUG").quantity == 10
    assert tmall.listing("MUG").price == Money.of("20.00", "CNY")

    # The operator halves tmall's share and adds a markup, then restarts.
    clock.advance(60)
    settings = {"tmall": ChannelSyncSettings(share=Decimal("0.5"), price=PriceRule(markup=10))}
    engine = SyncEngine(store, [tmall, jd], settings=settings, clock=clock)
    preview = engine.plan()
    assert {(i["kind"], i.get("merchant_code")) for i in preview["tmall"]} >= {
        ("stock", "MUG"),
        ("price", "MUG"),
    }
    assert preview["jd"] == []
    summary = await engine.run_cycle()
    assert tmall.listing("MUG").quantity == 5
    assert tmall.listing("MUG").price == Money.of("22.00", "CNY")
    assert jd.listing("MUG").quantity == 10
    assert summary.channels["jd"].sent == 0

    # Unchanged settings on the next start replan nothing.
    clock.advance(60)
    again = SyncEngine(store, [tmall, jd], settings=settings, clock=clock)
    assert again.plan() == {"tmall": [], "jd": []}
