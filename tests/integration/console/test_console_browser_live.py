"""In a real browser, against ``channelsync run --console`` and the demo marketplaces.

The overview follows the buyers' orders without a reload, a SKU page shows what the
marketplaces show, and a change without the token is refused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from channelsync.demo import catalogue_csv, config_toml, demo_environment, start_marketplaces
from channelsync.demo.files import RACE_SKU
from channelsync.demo.marketplaces import DemoMarketplace
from channelsync.demo.stream import OrderStream
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.plugins import build_plugin_manager
from channelsync.store import open_store

from .browser import chromium, screenshot_path
from .conftest import TOKEN

pytestmark = pytest.mark.browser

JSON = {"Accept": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def markets() -> Iterator[list[DemoMarketplace]]:
    found = start_marketplaces(build_plugin_manager(), types=["tmall", "jd"])
    yield found
    for market in found:
        market.stop()


@pytest.fixture
def console(tmp_path: Path, markets: list[DemoMarketplace]) -> Iterator[str]:
    """Run the daemon with its console on a free port; yield the console's URL."""
    config = tmp_path / "channelsync.toml"
    config.write_text(config_toml(markets), encoding="utf-8")
    with open_store(f"sqlite:///{tmp_path / 'channelsync.db'}") as store:
        import_catalogue(store, parse_catalogue(catalogue_csv(), "csv"), now=datetime.now(UTC))
    port = _free_port()
    env = {**os.environ, **demo_environment(markets), "CHANNELSYNC_CONSOLE_TOKEN": TOKEN}
    command = [sys.executable, "-m", "channelsync.daemon", "--config", str(config)]
    command += ["--console", f"127.0.0.1:{port}"]
    log = (tmp_path / "daemon.log").open("w")
    child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_synced(url, child)
        yield url
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=30)
        log.close()
        assert code == 0, (tmp_path / "daemon.log").read_text()


def _wait_until_synced(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "the daemon exited"
        try:
            data = httpx.get(url, headers=JSON, timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if all(c["last_flush"] for c in data["channels"]) and data["outbox"]["pending"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the daemon did not put the catalogue on every channel in 60 s")


async def test_the_overview_follows_the_buyers_orders_live(
    console: str, markets: list[DemoMarketplace]
) -> None:
    from playwright.async_api import async_playwright, expect  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium())
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(console)
        total = page.locator("#orders-total")
        await expect(total).to_have_text("0")
        for market in markets:
            row = page.locator(f"#channel-{market.channel}")
            await expect(row).to_have_attribute("data-health", "ok")
        # Set in the page itself: a reload or a navigation would lose it.
        await page.evaluate("window.stillTheSamePage = true")
        stream = OrderStream(markets, rate=1.0, seed=3)
        placed = stream.tick(6.0)
        assert placed == 6
        await expect(total).to_have_text(str(placed), timeout=30_000)
        assert await page.evaluate("window.stillTheSamePage") is True
        if path := screenshot_path("overview"):
            await page.screenshot(path=path, full_page=True)
        for name in ("orders", "reports"):
            await page.goto(console + name)
            if path := screenshot_path(name):
                await page.screenshot(path=path, full_page=True)
        await browser.close()


async def test_a_sku_page_shows_what_the_marketplaces_show(
    console: str, markets: list[DemoMarketplace]
) -> None:
    from playwright.async_api import async_playwright, expect  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium())
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(console + "skus")
        await page.get_by_label("merchant code").fill(RACE_SKU)
        await page.get_by_role("button", name="Find").click()
        await expect(page).to_have_url(console + f"skus/{RACE_SKU}")
        await expect(page.locator("#on-hand")).to_have_text("1")
        for market in markets:
            shown = market.stock()[RACE_SKU]
            row = page.locator(f'tr[data-channel="{market.channel}"]')
            await expect(row.locator("td.sent")).to_contain_text(str(shown))
        # The one unit is shown on one channel only.
        assert sum(market.stock()[RACE_SKU] for market in markets) == 1
        if path := screenshot_path("sku"):
            await page.screenshot(path=path, full_page=True)
        await browser.close()


async def test_a_change_without_the_token_is_refused_by_the_daemons_console(
    console: str, markets: list[DemoMarketplace]
) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    channel = markets[0].channel
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium())
        page = await browser.new_page()
        await page.goto(console)
        refused = await page.request.post(
            console + f"channels/{channel}/pause", form={"reason": "no token"}
        )
        assert refused.status == 401
        allowed = await page.request.post(
            console + f"channels/{channel}/pause",
            form={"reason": "stocktake"},
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        )
        assert allowed.status == 200
        await browser.close()
    data = httpx.get(console, headers=JSON, timeout=5).json()
    assert {c["name"]: c["health"] for c in data["channels"]}[channel] == "paused"
    # Nothing served holds the token.
    for path in ("", "orders", "parked", "reports", f"skus/{RACE_SKU}"):
        assert TOKEN not in httpx.get(console + path, timeout=5).text
