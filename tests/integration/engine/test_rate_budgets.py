"""Rate budgets in the store: saved per channel and operation, read back, upserted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channelsync.store import open_store

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_budgets_are_saved_per_channel_and_operation_and_replaced(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as s:
            assert s.rate_budgets("amazon-us") == {}
            s.save_rate_budgets("amazon-us", {"createFeed": 3.5, "getOrder": 30.0}, NOW)
            s.save_rate_budgets("jd", {"jingdong.stock.write": 1.0}, NOW)
        later = NOW + timedelta(seconds=40)
        with store.transaction() as s:
            s.save_rate_budgets("amazon-us", {"createFeed": 0.25}, later)
        with store.transaction() as s:
            assert s.rate_budgets("amazon-us") == {
                "createFeed": (0.25, later),
                "getOrder": (30.0, NOW),
            }
            assert s.rate_budgets("jd") == {"jingdong.stock.write": (1.0, NOW)}
