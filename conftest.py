"""Isolation every suite needs, wherever its tests live (tests/, plugins/, examples/).

The CLI sets the ``channelsync`` logger's level and handlers when it starts, and CLI tests
run it in-process (some in module-scoped fixtures): without a reset, a later test that
captures debug logs would see nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


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
