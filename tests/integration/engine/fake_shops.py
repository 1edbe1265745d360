"""The four marketplace plugins' own fakes, mounted in-process, as engine channels."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channelsync.channels import Channel
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.http import RetryPolicy
from channelsync.store import Store
from channelsync.testing.fakes import FakeMarketplace, demo_catalogue

#: 12:00 in Beijing, inside every fake's business hours.
START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)

PLUGINS = {
    "tmall": ("channelsync_tmall", "TmallChannel"),
    "jd": ("channelsync_jd", "JdChannel"),
    "pinduoduo": ("channelsync_pinduoduo", "PinduoduoChannel"),
    "amazon": ("channelsync_amazon", "AmazonChannel"),
}

#: A carrier and a tracking number each marketplace accepts.
SHIPPING = {
    "tmall": ("sf", "SF1234567890123"),
    "jd": ("sf", "SF1234567890124"),
    "pinduoduo": ("sf", "SF1234567890125"),
    "amazon": ("ups", "1Z999AA10123456784"),
}


@dataclass
class Shop:
    """One channel on its plugin's fake marketplace."""

    channel: Channel[Any]
    fake: FakeMarketplace

    def stock(self) -> dict[str, int]:
        """What the marketplace shows per merchant code (its own records)."""
        return self.fake.store.stock_by_merchant_code()

    def generate_orders(self, count: int) -> list[Any]:
        """Buyers order on the marketplace (its stock drops at once)."""
        return self.fake.generate_orders(count)  # type: ignore[attr-defined, no-any-return]


def open_shop(
    name: str,
    clock: FakeClock,
    *,
    seed: int = 0,
    base_url: str | None = None,
    fake: FakeMarketplace | None = None,
) -> Shop:
    """Build the plugin's channel named ``name`` on a fresh demo fake (or on ``fake``).

    With ``base_url`` the channel talks HTTP to the fake served there; otherwise it
    is mounted in-process.
    """
    module_name, class_name = PLUGINS[name]
    module = importlib.import_module(module_name)
    fakes = importlib.import_module(f"{module_name}.fake")
    cls = getattr(module, class_name)
    fake = fake or fakes.demo_fake(clock=clock, seed=seed)
    backend = MemorySecretBackend({(name, k): v for k, v in fakes.DEMO_CREDENTIALS.items()})
    credentials = CredentialStore(backend=backend, environ={})
    settings = dict(fakes.DEMO_SETTINGS)
    if base_url is not None:
        settings["base_url"] = base_url
    channel = cls(
        name,
        cls.settings_model.model_validate(settings),
        credentials.for_channel(name, cls.all_credential_fields()),
        transport=None if base_url is not None else fake.transport(),
        clock=clock,
        retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.0, jitter=0.0),
    )
    return Shop(channel, fake)


def import_demo_catalogue(store: Store, clock: FakeClock, quantity: int) -> list[str]:
    """Load the fakes' shared demo catalogue as master SKUs; return their merchant codes."""
    rows = ["sku,title,price,currency,quantity,cost"]
    codes = []
    for item in demo_catalogue():
        for sku in item.skus:
            rows.append(f"{sku.merchant_code},{item.title},{sku.price},CNY,{quantity},10.00")
            codes.append(sku.merchant_code)
    import_catalogue(store, parse_catalogue("\n".join(rows) + "\n", "csv"), now=clock.now())
    return codes
