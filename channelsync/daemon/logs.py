"""Logging for the daemon: readable lines on a terminal, JSON lines for collectors.

Every record logged while a channel's work runs names the channel: each channel's
tasks set :data:`current_channel`, and :class:`ChannelFilter` copies it onto the
record, so engine and transport code need not pass it along. Secrets are scrubbed by
the core :class:`~channelsync.http.RedactingFilter` before any formatter sees them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from channelsync.http import RedactingFilter, Redactor

__all__ = [
    "ChannelFilter",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "current_channel",
    "setup_logging",
    "working_on",
]

LogFormat = Literal["text", "json"]

#: The channel whose work the running task does (``None``: not about one channel).
current_channel: ContextVar[str | None] = ContextVar("channelsync_channel", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "channel"}


@contextmanager
def working_on(channel: str) -> Iterator[None]:
    """Name ``channel`` on every record logged inside the block (in this task)."""
    token = current_channel.set(channel)
    try:
        yield
    finally:
        current_channel.reset(token)


class ChannelFilter(logging.Filter):
    """Set ``record.channel`` from ``extra={"channel": ...}`` or :data:`current_channel`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the channel (``None`` when the record is about no channel); keep the record."""
        if getattr(record, "channel", None) is None:
            record.channel = current_channel.get()
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL [channel] logger: message`` (the channel part only when there is one)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(channel_tag)s%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Format with the channel tag filled in."""
        channel = getattr(record, "channel", None)
        record.channel_tag = f"[{channel}] " if channel else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, channel, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        channel = getattr(record, "channel", None)
        if channel:
            data["channel"] = channel
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "channel_tag" and not key.startswith("_"):
                data[key] = value
        if record.exc_text:  # already scrubbed by the redacting filter
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(
    fmt: LogFormat = "text",
    *,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send channelsync's log records to ``stream`` (stderr) in ``fmt``; return the handler.

    ``secrets`` are values to scrub from every line besides the well-known secret keys.
    """
    redactor = Redactor()
    for secret in secrets:
        redactor.add_secret(secret)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ChannelFilter())
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("channelsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler
