"""Finding the system's Chromium for the browser tests (never a downloaded build).

``CHANNELSYNC_CHROMIUM`` names the browser; otherwise ``chromium`` on the path (Debian's
package). Without one the tests skip, except under ``CI=true``, where they fail unless
``CHANNELSYNC_BROWSER_TESTS=skip`` opts out explicitly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

#: Where screenshots of each page go when set (the docs' images are made this way).
SCREENSHOTS = os.environ.get("CHANNELSYNC_CONSOLE_SCREENSHOTS")


def chromium() -> str:
    """Return the Chromium to drive; skip without one, or fail under ``CI=true``."""
    if os.environ.get("CHANNELSYNC_BROWSER_TESTS") == "skip":
        pytest.skip("CHANNELSYNC_BROWSER_TESTS=skip")
    found = os.environ.get("CHANNELSYNC_CHROMIUM") or next(
        (p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None
    )
    reason = None
    if importlib.util.find_spec("playwright") is None:
        reason = "playwright is not installed (pip install -r requirements-dev.txt)"
    elif not found:
        reason = "no Chromium found (apt-get install -y chromium, or set CHANNELSYNC_CHROMIUM)"
    if reason is None:
        assert found is not None
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests run under CI=true and {reason}")
    pytest.skip(reason)


def screenshot_path(name: str) -> Path | None:
    """Return where to save the screenshot ``name``, or ``None`` when none are wanted."""
    if not SCREENSHOTS:
        return None
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
