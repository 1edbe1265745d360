"""The reference pages hold to the code: config keys, hooks, errors, metrics, limits."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import generate_latest

import channelsync.errors
from channelsync import config
from channelsync.daemon.metrics import DaemonMetrics
from channelsync.daemon.status import ChannelStatus
from channelsync.engine.errors import InputError
from channelsync.http.metrics import TransportMetrics
from channelsync.store import StoreLockedError, StoreUnavailableError

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _load_generator() -> ModuleType:
    path = DOCS / "_tools" / "reference.py"
    spec = importlib.util.spec_from_file_location("channelsync_docs_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _load_generator()


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("block", sorted(reference.BLOCKS))
def test_generated_block_matches_the_code(block: str) -> None:
    assert reference.current(block) == reference.rendered(block), (
        f"the generated:{block} block is stale: run `python docs/_tools/reference.py`"
    )


def test_every_config_model_field_is_on_the_config_page() -> None:
    text = _page("reference/config.md")
    models = {
        "": [config.EngineConfig, config.DaemonConfig, config.ChannelSyncSettings, config.Campaign],
        "price.": [config.PriceRule],
    }
    for prefix, classes in models.items():
        for model in classes:
            for name in model.model_fields:
                assert f"| `{prefix}{name}` |" in text, f"{model.__name__}.{name} is not documented"
    for name in ("url", "name", "type", "base_url"):
        assert f"| `{name}` |" in text


def test_an_undescribed_config_key_fails_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    descriptions = dict(reference._DESCRIPTIONS["EngineConfig"])
    descriptions.pop("strict")
    monkeypatch.setitem(reference._DESCRIPTIONS, "EngineConfig", descriptions)
    with pytest.raises(LookupError, match=r"EngineConfig\.strict has no description"):
        reference.config_keys()


def _public_errors() -> dict[str, type[BaseException]]:
    found = {name: getattr(channelsync.errors, name) for name in channelsync.errors.__all__}
    found["InputError"] = InputError
    found["StoreLockedError"] = StoreLockedError
    found["StoreUnavailableError"] = StoreUnavailableError
    return found


def test_every_error_class_has_a_section_naming_its_bases() -> None:
    text = _page("reference/errors.md")
    sections = dict(re.findall(r"^### `(\w+)`\n\*Base: ([^*]+)\*", text, flags=re.MULTILINE))
    errors = _public_errors()
    assert set(sections) == set(errors), "sections and error classes differ"
    for name, cls in errors.items():
        for base in cls.__bases__:
            assert f"`{base.__name__}`" in sections[name], f"{name}: base {base.__name__} missing"


def test_the_error_tree_on_the_page_lists_every_class() -> None:
    tree = _page("reference/errors.md").split("```", 2)[1]
    for name in _public_errors():
        assert re.search(rf"\b{name}\b", tree), f"{name} is missing from the tree"


def test_every_served_metric_family_is_on_the_metrics_page() -> None:
    daemon = DaemonMetrics()
    transport = TransportMetrics()
    daemon.add_transport_registry(transport.registry)
    # Observe one sample of each so every family is exposed with its labels.
    daemon.errors.labels("shop", "pull", "TransientError").inc()
    daemon.orders_imported.labels("shop").inc()
    daemon.updates_sent.labels("shop").inc()
    daemon.observe(ChannelStatus(name="shop"), healthy=True)
    transport.observe_request("shop", "getOrders", "ok", 0.1)
    transport.count_retry("shop", "getOrders")
    transport.count_throttle("shop", "getOrders")
    exposition = generate_latest(daemon.registry).decode()
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE))
    assert len(families) >= 10
    text = _page("reference/metrics.md")
    for name, kind in families.items():
        if name.endswith("_created") and kind == "gauge":
            continue  # prometheus_client's creation time of each counter and histogram
        shown = name if kind != "counter" or name.endswith("_total") else f"{name}_total"
        assert f"| `{shown}` | {kind} |" in text, f"{shown} ({kind}) is not documented"
