"""The ``channelsync`` command."""

from __future__ import annotations

from channelsync.cli.main import cli, main

__all__ = ["cli", "main"]
