"""Isolation every suite needs, wherever its tests live (tests/, plugins/, examples/).

The CLI sets the ``channelsync`` logger's level and handlers when it starts, and CLI tests
run it in-process (some in module-scoped fixtures): without a reset, a later test that
captures debug logs would see nothing.

Tests marked ``network`` need a live marketplace: they are deselected unless asked for,
with ``-m network`` (any marker expression naming it) or ``CHANNELSYNC_NETWORK=1``.

The suite runs in one process per core (pytest-xdist, ``addopts`` in pyproject.toml),
except with ``-s``: what the tests print then reaches the terminal, which a worker
process's output never does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


def _pristine(logger: logging.Logger) -> None:
    logger.setLevel(logging.NOTSET)
    logger.handlers.clear()
    logger.propagate = True


@pytest.fixture(autouse=True)
def _pristine_channelsync_logger() -> Iterator[None]:
    """Start and leave every test with the ``channelsync`` logger as Python creates it."""
    logger = logging.getLogger("channelsync")
    _pristine(logger)
    yield
    _pristine(logger)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """Run in this process when output is not captured (``-s``); else one per core."""
    return 0 if config.getoption("capture") == "no" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``network`` tests unless a marker expression or the environment asks for them."""
    asked = "network" in (config.getoption("markexpr", "") or "")
    if asked or os.environ.get("CHANNELSYNC_NETWORK") == "1":
        return
    live = [item for item in items if item.get_closest_marker("network") is not None]
    if live:
        config.hook.pytest_deselected(items=live)
        items[:] = [item for item in items if item.get_closest_marker("network") is None]
