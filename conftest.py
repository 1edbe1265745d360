"""Isolation every suite needs, wherever its tests live (tests/, plugins/, examples/).

The CLI sets the ``channelsync`` logger's level and handlers when it starts, and CLI tests
run it in-process: without a reset, a later test that captures debug logs would see nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_channelsync_logger() -> Iterator[None]:
    """Put the ``channelsync`` logger back as it was before the test."""
    logger = logging.getLogger("channelsync")
    level, handlers, propagate = logger.level, logger.handlers[:], logger.propagate
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers
    logger.propagate = propagate
