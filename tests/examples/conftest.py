"""Run the scripts in ``examples/`` against the plugins' fake marketplaces."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from channelsync.clock import FakeClock
from channelsync.credentials import env_var_name
from channelsync.testing.fakes import FakeMarketplace, LoopbackServer

from .support import EXAMPLES, FAKE_MODULES, PRICE_RULE, START, ServedShop


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Import an example script by module name, as running it from its folder would."""
    monkeypatch.syspath_prepend(str(PRICE_RULE))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    # No example may touch the keyring of the machine running the tests.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    return importlib.import_module


@pytest.fixture
def started_fakes(
    examples: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> list[FakeMarketplace]:
    """Every fake marketplace an example starts on its own, to check its records after."""
    shop = examples("_shop")
    real = shop.start_fake
    started: list[FakeMarketplace] = []

    def spy(*args: Any, **kwargs: Any) -> FakeMarketplace:
        fake: FakeMarketplace = real(*args, **kwargs)
        started.append(fake)
        return fake

    monkeypatch.setattr(shop, "start_fake", spy)
    return started


@pytest.fixture
def served_shop(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], ServedShop]]:
    """Serve a channel type's fake and write the config a real shop's user would write."""
    servers: list[LoopbackServer] = []

    def serve(channel_type: str) -> ServedShop:
        module = importlib.import_module(FAKE_MODULES[channel_type])
        fake = module.demo_fake(clock=clock)
        server = fake.serve()
        servers.append(server)
        name = f"{channel_type}-shop"
        lines = ["[[channels]]", f'name = "{name}"', f'type = "{channel_type}"']
        lines.append(f'base_url = "{server.url}"')
        for key, value in module.DEMO_SETTINGS.items():
            lines.append(f"{key} = {json.dumps(value)}")  # a JSON string or array is TOML
        config = tmp_path / "channelsync.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for field, secret in module.DEMO_CREDENTIALS.items():
            monkeypatch.setenv(env_var_name(name, field), secret)
        return ServedShop(fake, server, config, name)

    yield serve
    for server in servers:
        server.stop()
