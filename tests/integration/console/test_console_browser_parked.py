"""In a real browser: parked updates retried and dropped through the page, the token enforced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from channelsync.console.app import build_app
from channelsync.console.server import ConsoleServer
from channelsync.console.settings import ConsoleAddress
from channelsync.console.source import ConsoleSource
from channelsync.store import OutboxState, Store

from .browser import chromium, screenshot_path
from .conftest import TOKEN

pytestmark = pytest.mark.browser


@pytest.fixture
async def console_url(source: ConsoleSource) -> AsyncIterator[str]:
    server = ConsoleServer(ConsoleAddress("127.0.0.1", 0), build_app(source, token=TOKEN))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def _parked(store: Store) -> dict[tuple[str, str], str]:
    with store.transaction() as s:
        return {(i.kind, i.key): i.state.value for i in s.outbox(channel="tmall")}


async def test_a_parked_entry_is_retried_and_another_dropped_through_the_page(
    console_url: str, store: Store
) -> None:
    from playwright.async_api import async_playwright, expect  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium())
        page = await browser.new_page()
        await page.goto(console_url + "parked")
        rows = page.locator("table.parked tbody tr[data-key]")
        await expect(rows).to_have_count(2)
        if path := screenshot_path("parked"):
            await page.screenshot(path=path, full_page=True)

        # Without the token the page is refused, and says so.
        stock = page.locator('tr[data-key="tmall/stock/tmall-1/1"]')
        await stock.get_by_role("button", name="Retry").click()
        await expect(page.locator("#flash")).to_contain_text("401: a valid console token")
        await expect(rows).to_have_count(2)
        assert _parked(store)[("stock", "tmall-1/1")] == "parked"

        await page.get_by_label("your name").fill("Mei")
        await page.get_by_label("console token").fill(TOKEN)
        await page.get_by_role("button", name="Use token").click()
        await expect(page.locator("#token-state")).to_have_text("changes allowed as Mei")
        # The token lives in the tab, never in the page's markup.
        assert TOKEN not in await page.content()

        await stock.get_by_role("button", name="Retry").click()
        await expect(page.locator("#flash")).to_contain_text("re-queued the parked stock entry")
        await expect(rows).to_have_count(1)
        assert _parked(store)[("stock", "tmall-1/1")] == "pending"

        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("listing closed")))
        price = page.locator('tr[data-key="tmall/price/tmall-1/1"]')
        await price.get_by_role("button", name="Drop").click()
        await expect(page.locator("#flash")).to_contain_text("dropped the parked price entry")
        await expect(rows).to_have_count(0)
        await browser.close()
    assert ("price", "tmall-1/1") not in _parked(store)
    with store.transaction() as s:
        retried = s.audit_trail(kind="outbox_retry")
        dropped = s.audit_trail(kind="outbox_drop")
        still = s.outbox(state=OutboxState.PARKED)
    assert [e.sent["by"] for e in retried] == ["Mei (console, from 127.0.0.1)"]
    assert [e.answer for e in dropped] == [
        "dropped by Mei (console, from 127.0.0.1): listing closed"
    ]
    assert still == []
