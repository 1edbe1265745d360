"""Seeded fault injection for fake marketplaces."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable
from enum import StrEnum

import httpx

__all__ = ["ALL_FAULTS", "APPLIED_THEN_LOST", "AnswerCut", "Fault", "FaultInjector"]


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
    #: The call is applied, then the connection drops before any answer.
    RESET_AFTER_APPLY = "reset_after_apply"
    #: The call is applied; the answer announces its full length, half of it is sent
    #: and the connection is closed (the client sees a body cut short).
    CUT = "cut"
    #: The call is applied, then the gateway answers with its server error.
    SERVER_ERROR_AFTER_APPLY = "server_error_after_apply"


class AnswerCut(httpx.RemoteProtocolError):
    """An applied call's answer, to be cut short by closing the connection mid-body.

    In-process clients see the :class:`httpx.RemoteProtocolError` itself; a served
    fake sends the status, the headers with the full ``Content-Length`` and half the
    body, then closes the connection.
    """

    def __init__(self, response: httpx.Response, request: httpx.Request) -> None:
        super().__init__("peer closed connection without sending complete message body")
        self.request = request
        self.response = response


ALL_FAULTS: frozenset[Fault] = frozenset(Fault)
#: The faults that hit a call the marketplace has already applied: its answer is lost,
#: cut or garbled, so the caller cannot know from the answer whether it happened.
APPLIED_THEN_LOST: frozenset[Fault] = frozenset(
    {
        Fault.TIMEOUT,
        Fault.MALFORMED,
        Fault.TRUNCATED,
        Fault.RESET_AFTER_APPLY,
        Fault.CUT,
        Fault.SERVER_ERROR_AFTER_APPLY,
    }
)


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
        self._forced: deque[tuple[Fault, str | None]] = deque()
        self._lock = threading.Lock()
        #: How many of each fault were injected so far.
        self.injected: Counter[Fault] = Counter()

    def force(self, fault: Fault, times: int = 1, *, operation: str | None = None) -> None:
        """Answer the next ``times`` applicable calls with ``fault``.

        With ``operation``, only calls of that operation are applicable (a shipment
        push, not the reads a channel makes before it).
        """
        with self._lock:
            self._forced.extend([(fault, operation)] * times)

    def draw(
        self, *, batch: bool = False, token: bool = True, operation: str | None = None
    ) -> Fault | None:
        """Return the fault for this call, or ``None`` to answer normally.

        ``batch``: the call writes several items; ``token``: it carries an access token;
        ``operation``: the call's operation name (for faults forced on one operation).
        """
        with self._lock:
            if self._forced:
                fault, only = self._forced[0]
                if (batch or fault is not Fault.PARTIAL_BATCH) and only in (None, operation):
                    self._forced.popleft()
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
