"""Fuzzing the configuration loader with damaged ``channelsync.toml`` files.

A valid file configuring the four marketplace channels is damaged one way per
example — a key dropped, a value of the wrong type, an unknown key added (at the
top, in a table or in a channel), a secret written into the file, an unknown
channel type, bytes cut or garbage inserted — and then loaded and resolved against
the installed plugins exactly as ``channelsync run`` does. The only error allowed is
a :class:`~channelsync.errors.ConfigurationError` whose message names the file (and
the channel or field where one is at fault) and never repeats a secret's value.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelsync.config import load_config, resolve_channel_type, resolve_settings
from channelsync.errors import ConfigurationError
from channelsync.plugins import PluginHost, build_plugin_manager

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("CHANNELSYNC_FUZZ_EXAMPLES", "150"))
CANARY = "CANARYcfg7f3a9e1d5b"

BASE: dict[str, Any] = {
    "store": {"url": "sqlite:///state.db"},
    "engine": {"strict": False, "scarce_threshold": 3, "order_lookback_hours": 24},
    "daemon": {"pull_interval": 60, "pull_intervals": {"tmall-main": 30}},
    "channels": [
        {
            "name": "tmall-main",
            "type": "tmall",
            "app_key": "12345678",
            "share": 0.5,
            "cap": 100,
            "price": {"markup": 5, "ending": "0.90"},
        },
        {"name": "jd-pop", "type": "jd", "app_key": "FAKEJDAPPKEY0001", "buffer": 2},
        {"name": "pdd", "type": "pinduoduo", "client_id": "fake-pdd-client-0001"},
        {
            "name": "amazon-us",
            "type": "amazon",
            "base_url": "http://127.0.0.1:8080",
            "region": "na",
            "marketplace_ids": ["ATVPDKIKX0DER"],
            "lwa_client_id": "amzn1.application-oa2-client.fake",
            "seller_id": "A1FAKESELLER00",
            "managed_stock": False,
        },
    ],
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, float) or value == value else "nan"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"no TOML for {type(value).__name__}")


def to_toml(document: dict[str, Any]) -> str:
    """Write ``document`` as TOML, every table inline (TOML has no null: ``None`` is dropped)."""
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in document.items()]
    return "\n".join(lines) + "\n"


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value if v is not None]
    return value


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((*path, key))
            found.extend(_paths(inner, (*path, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.append((*path, index))
            found.extend(_paths(inner, (*path, index)))
    return found


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(value, dict) else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_containers(inner, (*path, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_containers(inner, (*path, index)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


REPLACEMENTS: tuple[Any, ...] = (
    "text",
    "",
    -1,
    0,
    10**20,
    2.5,
    float("nan"),
    True,
    [],
    [1, "a"],
    {},
    {"nested": {"deeper": 1}},
    datetime.fromisoformat("2026-06-18T00:00:00+08:00"),
    "ünïcødé ✓ 超卖",
)
SECRET_KEYS = ("app_secret", "access_token", "refresh_token", "password", "lwa_client_secret")
EXTRA_KEYS = ("colour", "typo_share", "cap ", "Type", "base-url")
TREE_OPS = ("drop", "replace", "add_extra", "add_secret", "unknown_type")
BYTE_OPS = ("cut", "garbage", "non_utf8")


def mutate(document: dict[str, Any], op: str, pick: int, choice: int) -> dict[str, Any]:
    """Return a damaged copy of ``document``."""
    doc = copy.deepcopy(document)
    if op in ("drop", "replace"):
        path = _paths(doc)[pick % len(_paths(doc))]
        parent = _at(doc, path[:-1])
        if op == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = REPLACEMENTS[choice % len(REPLACEMENTS)]
    elif op in ("add_extra", "add_secret"):
        containers = _containers(doc)
        table = _at(doc, containers[pick % len(containers)])
        if op == "add_extra":
            table[EXTRA_KEYS[choice % len(EXTRA_KEYS)]] = "x"
        else:
            table[SECRET_KEYS[choice % len(SECRET_KEYS)]] = CANARY
    else:
        channel = doc["channels"][pick % len(doc["channels"])]
        channel["type"] = ("shopify", "TMALL", "tmall2", "jd_pop", "")[choice % 5]
    return _strip_none(doc)


def damage_bytes(text: str, op: str, pick: int) -> bytes:
    """Return the file's bytes cut short, with garbage spliced in, or not UTF-8."""
    raw = text.encode()
    at = pick % max(len(raw), 1)
    if op == "cut":
        return raw[:at]
    if op == "garbage":
        return raw[:at] + b']]\x00="[[\x7f' + raw[at:]
    return raw[:at] + b"\xff\xfe\xc3" + raw[at:]


def _paths_into_channels(pick: int) -> bool:
    containers = _containers(BASE)
    return containers[pick % len(containers)][:1] == ("channels",)


_HOST: list[PluginHost] = []


def _host() -> PluginHost:
    if not _HOST:
        _HOST.append(build_plugin_manager())
    return _HOST[0]


def load_and_resolve(path: Path) -> None:
    """Everything ``channelsync run`` checks before it contacts a marketplace."""
    config = load_config(path)
    for entry in config.channels:
        channel_cls = resolve_channel_type(config, entry, _host().registry)
        resolve_settings(config, entry, channel_cls)


def test_the_undamaged_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "channelsync.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    load_and_resolve(path)
    assert [c.name for c in load_config(path).channels] == [
        "tmall-main",
        "jd-pop",
        "pdd",
        "amazon-us",
    ]


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    op=st.sampled_from(TREE_OPS + BYTE_OPS),
    pick=st.integers(0, 10_000),
    choice=st.integers(0, 100),
)
def test_a_damaged_file_is_refused_clearly(tmp_path: Path, op: str, pick: int, choice: int) -> None:
    path = tmp_path / "channelsync.toml"
    if op in BYTE_OPS:
        path.write_bytes(damage_bytes(to_toml(BASE), op, pick))
    else:
        path.write_text(to_toml(mutate(BASE, op, pick, choice)), encoding="utf-8")
    error: ConfigurationError | None = None
    try:
        load_and_resolve(path)
    except ConfigurationError as raised:
        error = raised
    if op in ("add_secret", "unknown_type"):
        # A secret in the file and a type no plugin provides are always refused.
        assert error is not None, path.read_text(encoding="utf-8", errors="replace")
    if error is None:
        return
    message = str(error)
    assert str(path) in message
    assert CANARY not in message
    assert CANARY not in repr(error)
    if error.channel is not None:
        assert repr(error.channel) in message
    if error.field is not None:
        assert repr(error.field) in message
    if op == "add_secret" and _paths_into_channels(pick):
        assert "secrets are never read" in message
        assert error.channel is not None
    if op == "unknown_type":
        assert error.field == "type"
        assert error.channel is not None
