"""Prometheus metrics for the transport, kept in a registry of their own.

The SDK never registers into prometheus_client's global registry: an application
(or the daemon) decides whether and how to expose :attr:`TransportMetrics.registry`.
Every HTTP exchange counts once, so a call retried twice counts three requests
and two retries.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["LATENCY_BUCKETS", "OUTCOME_OK", "TransportMetrics"]

OUTCOME_OK = "ok"

#: Histogram buckets in seconds; marketplace calls range from tens of ms to ~30 s.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class TransportMetrics:
    """Counters and a latency histogram labelled by channel and operation."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "channelsync_http_requests_total",
            "HTTP exchanges with a marketplace, by outcome (ok or error class name).",
            ["channel", "operation", "outcome"],
            registry=self.registry,
        )
        self._retries = Counter(
            "channelsync_http_retries_total",
            "Backoffs before repeating a failed call.",
            ["channel", "operation"],
            registry=self.registry,
        )
        self._throttles = Counter(
            "channelsync_http_throttles_total",
            "Responses where the marketplace throttled the call.",
            ["channel", "operation"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "channelsync_http_request_seconds",
            "Time from sending a request to having the whole response.",
            ["channel", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # ``labels()`` hashes and validates its arguments on every call, which cost as
        # much as the rest of the accounting; the children never change, so keep them.
        self._exchange_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def __repr__(self) -> str:
        return f"TransportMetrics(registry={self.registry!r})"

    def observe_request(self, channel: str, operation: str, outcome: str, seconds: float) -> None:
        """Count one exchange and record its latency."""
        key = (channel, operation, outcome)
        children = self._exchange_children.get(key)
        if children is None:
            children = (
                self._requests.labels(channel=channel, operation=operation, outcome=outcome),
                self._latency.labels(channel=channel, operation=operation),
            )
            self._exchange_children[key] = children
        count, latency = children
        count.inc()
        latency.observe(max(0.0, seconds))

    def count_retry(self, channel: str, operation: str) -> None:
        """Count one backoff."""
        self._retries.labels(channel=channel, operation=operation).inc()

    def count_throttle(self, channel: str, operation: str) -> None:
        """Count one throttled response."""
        self._throttles.labels(channel=channel, operation=operation).inc()

    def _sum(self, sample_name: str, labels: dict[str, str]) -> float:
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == sample_name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total

    def requests(self, channel: str, operation: str, outcome: str | None = None) -> float:
        """Return the exchanges counted, for one outcome or all of them."""
        labels = {"channel": channel, "operation": operation}
        if outcome is not None:
            labels["outcome"] = outcome
        return self._sum("channelsync_http_requests_total", labels)

    def retries(self, channel: str, operation: str) -> float:
        """Return the backoffs counted."""
        return self._sum(
            "channelsync_http_retries_total", {"channel": channel, "operation": operation}
        )

    def throttles(self, channel: str, operation: str) -> float:
        """Return the throttled responses counted."""
        return self._sum(
            "channelsync_http_throttles_total", {"channel": channel, "operation": operation}
        )

    def latency_count(self, channel: str, operation: str) -> float:
        """Return how many latencies the histogram recorded."""
        return self._sum(
            "channelsync_http_request_seconds_count", {"channel": channel, "operation": operation}
        )
