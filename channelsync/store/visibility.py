"""Visibility: how long after a buyer orders each channel's orders reach the store.

The engine records, for each order it imports for the first time, the delay between
the order's marketplace time and its import, per channel and per way the channel's
orders were being seen (events, fresh reads, lagged polling). The store keeps the
most recent samples and a figure from them that the planner reads in one statement.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["VisibilityFigure", "VisibilitySession"]


@dataclass(frozen=True, slots=True)
class VisibilityFigure:
    """A channel's measured visibility delay in one mode, and how many samples it rests on."""

    channel: str
    mode: str
    delay_s: float
    samples: int
    updated_at: datetime


class VisibilitySession(ABC):
    """The visibility operations of a store transaction."""

    @abstractmethod
    def record_visibility(
        self, samples: Mapping[tuple[str, str], Sequence[float]], now: datetime
    ) -> None:
        """Add delay samples (seconds) per ``(channel, mode)``; keep the recent ones."""

    @abstractmethod
    def visibility(self) -> dict[tuple[str, str], VisibilityFigure]:
        """Return every channel's figure per mode, keyed by ``(channel, mode)``."""
