"""What the example tests share: where the examples are, the fixed time, the fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from channelsync.testing.fakes import LoopbackServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PRICE_RULE = EXAMPLES / "custom_price_rule"

#: 02:00 in Beijing, 10:00 the day before in Los Angeles: two hours and more after
#: midnight on every marketplace, so "today" is short to pull and holds minutes-old orders.
START = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)

CHANNEL_TYPES = ("tmall", "jd", "pinduoduo", "amazon")
FAKE_MODULES = {
    "tmall": "channelsync_tmall.fake",
    "jd": "channelsync_jd.fake",
    "pinduoduo": "channelsync_pinduoduo.fake",
    "amazon": "channelsync_amazon.fake",
}


@dataclass
class ServedShop:
    """A fake marketplace on loopback and a config file pointing a channel at it."""

    fake: Any
    server: LoopbackServer
    config: Path
    name: str


def backdate(fake: Any, orders: list[Any], *, created: datetime, modified: datetime) -> None:
    """Give orders the times a test needs (the fake's records, as its buyers left them)."""
    with fake.store.lock:
        for order in orders:
            order.created = created
            order.modified = modified
            order.paid_at = created
