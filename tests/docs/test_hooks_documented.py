from __future__ import annotations

import inspect
from pathlib import Path

from channelsync.plugins import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _signature(name: str) -> str:
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def test_every_hook_is_in_the_reference_with_its_exact_signature() -> None:
    text = DOC.read_text(encoding="utf-8")
    hooks = [n for n in vars(hookspecs) if n.startswith("channelsync_")]
    assert hooks, "no hookspecs found"
    for name in hooks:
        assert f"### `{_signature(name)}`" in text, f"{name} is missing or outdated in {DOC.name}"
