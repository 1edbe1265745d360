"""Seeded fault injection for fake marketplaces."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable
from enum import StrEnum

__all__ = ["ALL_FAULTS", "Fault", "FaultInjector"]


class Fault(StrEnum):
    """A failure a fake marketplace can answer with instead of (or on top of) its answer."""

    #: The marketplace's own throttle answer (its error code or HTTP 429).
    THROTTLE = "throttle"
    #: An HTTP 5xx from the gateway.
    SERVER_ERROR = "server_error"
    #: No answer in time: the client sees a read timeout.
    TIMEOUT = "timeout"
    #: The connection drops before an answer.
    RESET = "reset"
    #: A body that is not the marketplace's format at all (an HTML error page).
    MALFORMED = "malformed"
    #: The real answer cut off half-way.
    TRUNCATED = "truncated"
    #: A batch call in which one item is refused and the others applied.
    PARTIAL_BATCH = "partial_batch"
    #: The marketplace's "access token expired" answer.
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - a fault name, not a secret


ALL_FAULTS: frozenset[Fault] = frozenset(Fault)


class FaultInjector:
    """Decides, per call, whether a fake answers with a fault, and counts what it injected.

    Faults come from two places: :meth:`force` queues exact faults for the next calls
    (for tests that need one specific failure), and ``rate`` draws random faults from
    ``kinds`` with a seeded generator (for chaos runs that must be repeatable).
    A :attr:`Fault.PARTIAL_BATCH` is only drawn for batch calls, and a
    :attr:`Fault.EXPIRED_TOKEN` only for calls that carry an access token (a token
    refresh carries none, so no marketplace answers it "access token expired").
    """

    def __init__(
        self, rate: float = 0.0, *, seed: int = 0, kinds: Iterable[Fault] | None = None
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        self.rate = rate
        self.kinds = frozenset(ALL_FAULTS if kinds is None else kinds)
        self._rng = random.Random(seed)  # noqa: S311 - repeatable test faults, not security
        self._forced: deque[Fault] = deque()
        self._lock = threading.Lock()
        #: How many of each fault were injected so far.
        self.injected: Counter[Fault] = Counter()

    def force(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` applicable calls with ``fault``."""
        with self._lock:
            self._forced.extend([fault] * times)

    def draw(self, *, batch: bool = False, token: bool = True) -> Fault | None:
        """Return the fault for this call, or ``None`` to answer normally.

        ``batch``: the call writes several items; ``token``: it carries an access token.
        """
        with self._lock:
            if self._forced and (batch or self._forced[0] is not Fault.PARTIAL_BATCH):
                fault = self._forced.popleft()
                self.injected[fault] += 1
                return fault
            if self.rate == 0.0 or self._rng.random() >= self.rate:
                return None
            choices = sorted(
                k
                for k in self.kinds
                if (batch or k is not Fault.PARTIAL_BATCH)
                and (token or k is not Fault.EXPIRED_TOKEN)
            )
            if not choices:
                return None
            fault = self._rng.choice(choices)
            self.injected[fault] += 1
            return fault

    @property
    def total(self) -> int:
        """Return how many faults were injected in all."""
        return sum(self.injected.values())
