"""The base of every fake marketplace: dispatch, throttling, fault injection, mounting."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import httpx

from channelsync.clock import Clock, SystemClock
from channelsync.testing.fakes.control import ControlSurface
from channelsync.testing.fakes.faults import AnswerCut, Fault, FaultInjector
from channelsync.testing.fakes.server import LoopbackServer
from channelsync.testing.fakes.state import FakeStore

__all__ = ["FakeMarketplace", "ThrottleRule"]

_HTML_ERROR_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


@dataclass(frozen=True)
class ThrottleRule:
    """A marketplace's own limit for one operation: ``rate`` calls per second, ``burst`` at once."""

    rate: float
    burst: int = 1


# A client that waits exactly 1/rate lands a float rounding error short of a whole
# token; the client's own bucket allows for that, and so must the marketplace's.
_EPSILON = 1e-6


class _Bucket:
    def __init__(self, rule: ThrottleRule, now: float) -> None:
        self.rule = rule
        self.tokens = float(rule.burst)
        self.updated = now

    def take(self, now: float) -> float | None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.rule.burst), self.tokens + elapsed * self.rule.rate)
        self.updated = now
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return None
        return (1.0 - self.tokens) / self.rule.rate


class FakeMarketplace(ControlSurface, abc.ABC):
    """A stateful stand-in for one marketplace's API, written from its wire reference.

    Subclasses implement the wire format only: :meth:`operation_of` names the call
    (the gateway method or REST operation), :meth:`handle` answers it from
    :attr:`store`, and :meth:`fault_response` renders the marketplace's own throttle,
    server-error and expired-token answers. This base draws faults, applies the
    transport-level ones and mangles bodies, and counts calls.

    Injected faults behave like the real thing: :attr:`Fault.RESET` drops the call
    before the marketplace sees it; :attr:`Fault.TIMEOUT` lets the marketplace apply
    it and loses the answer (the hard case for idempotency); :attr:`Fault.MALFORMED`
    and :attr:`Fault.TRUNCATED` replace or cut the real answer after it was applied;
    :attr:`Fault.RESET_AFTER_APPLY`, :attr:`Fault.CUT` and
    :attr:`Fault.SERVER_ERROR_AFTER_APPLY` apply it and then drop the connection, cut
    the body mid-way or answer with a server error.

    Mount it in-process with :meth:`transport` (an ``httpx.MockTransport``), or serve
    it on loopback HTTP with :meth:`serve`. Tests drive it through the control surface
    (:class:`~channelsync.testing.fakes.control.ControlSurface`): forced page sizes,
    hooks between pages, and order, refund, listing and price changes.
    """

    #: Per-operation limits enforced with the marketplace's own throttle answer.
    throttle_rules: ClassVar[Mapping[str, ThrottleRule]] = {}

    def __init__(self, *, clock: Clock | None = None, faults: FaultInjector | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.store = FakeStore()
        self.faults = faults or FaultInjector()
        #: Calls answered, by operation (faulted ones included).
        self.calls: Counter[str] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self._init_control()

    @abc.abstractmethod
    def operation_of(self, request: httpx.Request) -> str:
        """Return the name of the operation ``request`` calls (``"unknown"`` if none)."""

    def is_batch(self, operation: str) -> bool:
        """Return whether ``operation`` writes several items at once (default: no)."""
        return False

    def takes_access_token(self, operation: str) -> bool:
        """Return whether ``operation`` carries an access token (default: yes).

        Token-issuing calls override this: they are never answered "token expired".
        """
        return True

    @abc.abstractmethod
    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Answer ``request``; with ``partial_failure``, refuse one item of the batch."""

    @abc.abstractmethod
    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """Render the marketplace's answer for a throttle, server error or expired token."""

    def throttled(self, key: str, rule: ThrottleRule | None = None) -> float | None:
        """Take one call from ``key``'s limit; return the seconds to wait if it is spent."""
        rule = rule or self.throttle_rules.get(key)
        if rule is None:
            return None
        now = self.clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rule, now)
        return bucket.take(now)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the handler of :meth:`transport` and :meth:`serve`)."""
        request.read()
        operation = self.operation_of(request)
        with self.store.lock:
            self.calls[operation] += 1
        fault = self.faults.draw(
            batch=self.is_batch(operation),
            token=self.takes_access_token(operation),
            operation=operation,
        )
        if fault is Fault.RESET:
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        if fault in (Fault.THROTTLE, Fault.SERVER_ERROR, Fault.EXPIRED_TOKEN):
            return self.fault_response(fault, request, operation)
        with self.store.lock:
            response = self.handle(request, operation, partial_failure=fault is Fault.PARTIAL_BATCH)
        if fault is Fault.TIMEOUT:
            raise httpx.ReadTimeout("no answer in time (injected)", request=request)
        if fault is Fault.RESET_AFTER_APPLY:
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        if fault is Fault.CUT:
            response.read()
            raise AnswerCut(response, request)
        if fault is Fault.SERVER_ERROR_AFTER_APPLY:
            return self.fault_response(Fault.SERVER_ERROR, request, operation)
        if fault is Fault.MALFORMED:
            return httpx.Response(
                200, headers={"Content-Type": "text/html"}, content=_HTML_ERROR_PAGE
            )
        if fault is Fault.TRUNCATED:
            body = response.read()
            return httpx.Response(
                response.status_code,
                headers={"Content-Type": response.headers.get("Content-Type", "")},
                content=body[: len(body) // 2],
            )
        return response

    def transport(self) -> httpx.MockTransport:
        """Return an in-process transport for ``httpx`` clients (and channels) in tests."""
        return httpx.MockTransport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
        """Start serving on loopback HTTP (port 0: any free port); stop it when done."""
        server = LoopbackServer(self, host=host, port=port)
        server.start()
        return server
