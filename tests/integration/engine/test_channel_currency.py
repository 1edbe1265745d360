"""A channel selling in another currency: parked without a rate, converted with one."""

from __future__ import annotations

from decimal import Decimal

from channelsync.clock import FakeClock
from channelsync.config import ChannelSyncSettings, PriceRule
from channelsync.engine.sync import SyncEngine
from channelsync.models import Money
from channelsync.store import Store
from channelsync.testing import MemoryChannel


async def test_a_wrong_currency_price_is_parked_and_sent_once_a_rate_is_configured(
    store: Store, clock: FakeClock, tmall: MemoryChannel, jd: MemoryChannel
) -> None:
    usd = {"jd": ChannelSyncSettings(price=PriceRule(currency="USD"))}
    summary = await SyncEngine(store, [tmall, jd], settings=usd, clock=clock).run_cycle()

    assert tmall.listing("MUG").price == Money.of("20.00", "CNY")
    assert jd.listing("MUG").price is None  # nothing in the wrong currency reaches it
    assert jd.listing("MUG").quantity == 10  # stock is not affected
    assert summary.channels["jd"].errors == []
    with store.transaction() as session:
        parked = {p.key: p for p in session.parked(channel="jd")}
    assert sorted(parked) == ["jd-1/1", "jd-2/2"]
    reason = parked["jd-1/1"].reason
    assert reason.startswith("CURRENCY_MISMATCH: SKU MUG is priced in CNY")
    assert "channel jd sells in USD" in reason
    assert parked["jd-1/1"].kind == "price"

    converted = {
        "jd": ChannelSyncSettings(price=PriceRule(currency="USD", rates={"CNY": Decimal("0.14")}))
    }
    with store.transaction() as session:
        session.mark_all_changed()  # the settings changed: every SKU is planned again
    clock.advance(60)
    await SyncEngine(store, [tmall, jd], settings=converted, clock=clock).run_cycle()
    assert jd.listing("MUG").price == Money.of("2.80", "USD")
    assert jd.listing("CUP").price == Money.of("2.10", "USD")
    assert tmall.listing("MUG").price == Money.of("20.00", "CNY")
    with store.transaction() as session:
        assert session.parked(channel="jd") == []
