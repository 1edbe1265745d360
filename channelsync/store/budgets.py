"""Rate budgets: how full each channel's rate-limit buckets were, kept past the process.

A marketplace counts calls per seller, not per process: a ``sync --once`` that starts
with full buckets right after another spent them draws throttling answers (Amazon's
listings feeds allow five per five minutes). The engine saves the buckets' levels
after its steps and the next process starts from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime

__all__ = ["BudgetsSession"]


class BudgetsSession(ABC):
    """The rate-budget operations of a store transaction."""

    @abstractmethod
    def rate_budgets(self, channel: str) -> dict[str, tuple[float, datetime]]:
        """Return ``{operation: (tokens, when saved)}`` of ``channel``'s buckets."""

    @abstractmethod
    def save_rate_budgets(self, channel: str, levels: Mapping[str, float], now: datetime) -> None:
        """Record the tokens each of ``channel``'s buckets holds ``now``."""
