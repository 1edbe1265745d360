"""The console's pages: what each shows, as JSON and as HTML, read from the store."""

from __future__ import annotations

import httpx
import pytest

from channelsync.clock import FakeClock
from channelsync.store import OutboxState, Store
from channelsync.testing import MemoryChannel

from .conftest import TOKEN

JSON = {"Accept": "application/json"}


async def test_the_overview_shows_each_channels_work_and_the_stores_counts(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.get("/", headers=JSON)
    assert answer.status_code == 200
    data = answer.json()
    channels = {c["name"]: c for c in data["channels"]}
    assert list(channels) == ["tmall", "jd"]
    with store.transaction() as s:
        parked = s.outbox(state=OutboxState.PARKED)
    assert channels["tmall"]["parked"] == len(parked) == 2  # MUG's stock and price
    assert channels["jd"]["orders"] == 2
    assert channels["tmall"]["orders"] == 0
    assert channels["jd"]["bound"] == 2
    assert data["outbox"]["parked"] == 2
    assert data["oversold"] == {"count": 0, "skus": {}}
    # No daemon here: the store is all there is.
    assert data["daemon"]["running"] is False
    assert channels["jd"]["health"] == "not running"


async def test_the_overview_page_renders_for_a_browser_and_its_live_part_alone(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="live"' in page.text
    assert "<header>" in page.text
    assert 'id="channel-tmall"' in page.text
    live = await client.get("/", headers={"HX-Request": "true", "HX-Target": "live"})
    assert 'id="channel-tmall"' in live.text
    assert "<header>" not in live.text
    # Scripts only from the console itself, and no framing by another site.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_a_sku_page_shows_the_master_beside_what_each_channel_was_sent_and_shows(
    client: httpx.AsyncClient, jd: MemoryChannel, tmall: MemoryChannel
) -> None:
    data = (await client.get("/skus/MUG", headers=JSON)).json()
    assert (data["on_hand"], data["reserved"], data["available"]) == (10, 3, 7)
    listings = {c["channel"]: c for c in data["channels"]}
    assert listings["jd"]["sent"] == jd.listing("MUG").quantity == 7
    # Tmall refused MUG's updates: nothing was ever accepted there.
    assert listings["tmall"]["sent"] is None
    assert tmall.listing("MUG").quantity == 0
    kinds = {(c["channel"], c["ok"]) for c in data["changes"]}
    assert ("tmall", False) in kinds
    assert ("jd", True) in kinds
    assert any(c["value"] == "quantity 7" for c in data["changes"] if c["channel"] == "jd")
    html = (await client.get("/skus/MUG")).text
    assert "Held by the guard" in html


async def test_sku_search_finds_codes_and_an_unknown_code_is_a_clear_404(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/skus", params={"q": "u"}, headers=JSON)).json()["codes"] == [
        "CUP",
        "MUG",
    ]
    exact = await client.get("/skus", params={"q": "CUP"})
    assert exact.status_code == 303
    assert exact.headers["location"].endswith("/skus/CUP")
    missing = await client.get("/skus/NOPE", headers=JSON)
    assert missing.status_code == 404
    assert missing.json() == {"error": "no SKU has the merchant code 'NOPE'"}
    page = await client.get("/skus/NOPE")
    assert page.status_code == 404
    assert "no SKU has the merchant code" in page.text


async def test_orders_come_newest_first_filtered_and_one_order_shows_its_effects(
    client: httpx.AsyncClient,
) -> None:
    data = (await client.get("/orders", headers=JSON)).json()
    assert data["total"] == 2
    assert [o["order_id"] for o in data["orders"]] == ["jd-2", "jd-1"]
    assert data["orders"][0]["units"] == 1
    none = (await client.get("/orders", params={"channel": "tmall"}, headers=JSON)).json()
    assert none["total"] == 0
    paid = (await client.get("/orders", params={"status": "paid"}, headers=JSON)).json()
    assert paid["total"] == 2
    order = (await client.get("/orders/jd/jd-1", headers=JSON)).json()
    assert [(line["merchant_code"], line["quantity"]) for line in order["lines"]] == [("MUG", 2)]
    assert [(e["kind"], e["merchant_code"], e["reserved_delta"]) for e in order["ledger"]] == [
        ("order_reserved", "MUG", 2)
    ]
    assert order["shipments"] == []
    assert "shipping_address" not in order
    assert (await client.get("/orders/jd/nope", headers=JSON)).status_code == 404
    assert (await client.get("/orders", params={"page": "x"}, headers=JSON)).status_code == 400


async def test_the_parked_page_lists_each_entry_with_its_reason(
    client: httpx.AsyncClient,
) -> None:
    data = (await client.get("/parked", headers=JSON)).json()
    assert {(e["channel"], e["kind"], e["key"]) for e in data["entries"]} == {
        ("tmall", "stock", "tmall-1/1"),
        ("tmall", "price", "tmall-1/1"),
    }
    assert {e["reason"] for e in data["entries"]} == {
        "(isv.item-frozen) item frozen by the marketplace"
    }
    html = (await client.get("/parked")).text
    assert "item frozen by the marketplace" in html
    assert TOKEN not in html


async def test_reports_show_the_sales_and_serve_the_plot(client: httpx.AsyncClient) -> None:
    data = (await client.get("/reports", params={"days": 7}, headers=JSON)).json()
    sales = data["report"]["channels"]
    assert [(row["channel"], row["orders"], row["units"]) for row in sales] == [("jd", 2, 3)]
    pytest.importorskip("matplotlib")
    plot = await client.get("/reports/sales.png", params={"days": 7})
    assert plot.status_code == 200
    assert plot.content.startswith(b"\x89PNG")
    assert (await client.get("/reports", params={"days": 0}, headers=JSON)).status_code == 400


async def test_the_pages_follow_new_orders_without_a_restart(
    client: httpx.AsyncClient, jd: MemoryChannel, clock: FakeClock, synced: object
) -> None:
    before = (await client.get("/", headers=JSON)).json()
    from channelsync.engine.sync import SyncEngine  # noqa: PLC0415

    assert isinstance(synced, SyncEngine)
    clock.advance(60)
    jd.place_order([("CUP", 1)])
    clock.advance(120)
    await synced.run_cycle()
    after = (await client.get("/", headers=JSON)).json()
    count = {c["name"]: c["orders"] for c in after["channels"]}
    assert count["jd"] == {c["name"]: c["orders"] for c in before["channels"]}["jd"] + 1
