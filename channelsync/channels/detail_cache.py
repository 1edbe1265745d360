"""A bounded memory of details already read, keyed by the marketplace's own version.

Order pulls re-read an overlap window on every pull (orders indexed late must not be
missed), and marketplaces whose list call gives only ids and modified times need a
detail call per order (TOP's ``trade.fullinfo.get``, SP-API's ``getOrderItems``).
Those calls are the most tightly rate-limited ones; reading an order again that has
not changed since the last pull only spends quota. A plugin keeps a
:class:`DetailCache` per channel and asks it before the detail call: the same key at
the same version (the modified time the list call reported) is answered from memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["DetailCache"]

V = TypeVar("V")


class DetailCache(Generic[V]):
    """Least-recently-used memory of ``key -> (version, value)``, at most ``size`` keys."""

    def __init__(self, size: int = 10_000) -> None:
        if size < 1:
            raise ValueError(f"a detail cache needs room for at least one entry, got {size}")
        self._size = size
        self._entries: OrderedDict[str, tuple[str, V]] = OrderedDict()
        self.hits = 0
        """How many reads were answered from memory."""

    def get(self, key: str, version: str | None) -> V | None:
        """Return the value stored for ``key`` at exactly ``version``, else ``None``."""
        if version is None:
            return None
        found = self._entries.get(key)
        if found is None or found[0] != version:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: str, version: str | None, value: V) -> None:
        """Remember ``value`` for ``key`` at ``version`` (a ``None`` version is not kept)."""
        if version is None:
            return
        self._entries[key] = (version, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
