"""Prometheus metrics and the health check of the daemon, served over HTTP.

The daemon's own metrics (per channel: errors by class, orders imported, updates
sent, outbox depth, parked items, last successful pull, order lag) live in a
registry of their own; each channel's transport counters (requests by outcome,
retries, throttles, latency) live in the channel's :class:`~channelsync.http.TransportMetrics`
registry and are merged into the same exposition, one family per metric name.

``GET /metrics`` serves the exposition; ``GET /healthz`` answers 200 while every
channel has synced within ``stale_after`` seconds (or is paused) and 503 naming the
stale ones.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from channelsync.channels import Channel
from channelsync.daemon.status import ChannelStatus
from channelsync.errors import ConfigurationError

__all__ = ["DaemonMetrics", "HealthReport", "MetricsServer", "health", "transport_totals"]


class _MergedRegistries(Collector):
    """Collects several registries as one, merging families that share a name."""

    def __init__(self, registries: Callable[[], Iterable[CollectorRegistry]]) -> None:
        self._registries = registries

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        seen: set[int] = set()
        for registry in self._registries():
            if id(registry) in seen:
                continue
            seen.add(id(registry))
            for family in registry.collect():
                target = merged.get(family.name)
                if target is None:
                    target = Metric(family.name, family.documentation, family.type, family.unit)
                    merged[family.name] = target
                target.samples.extend(family.samples)
        yield from merged.values()


class DaemonMetrics:
    """The daemon's metrics, plus the channels' transport registries merged in."""

    def __init__(self, transport_registries: Iterable[CollectorRegistry] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._transport = list(transport_registries)
        self.registry.register(_MergedRegistries(lambda: self._transport))
        labels = ["channel"]
        self.errors = Counter(
            "channelsync_channel_errors_total",
            "Failed daemon steps, by step (pull, flush, bind, reconcile) and error class.",
            ["channel", "step", "error"],
            registry=self.registry,
        )
        self.orders_imported = Counter(
            "channelsync_orders_imported_total",
            "Orders (or order changes) imported.",
            labels,
            registry=self.registry,
        )
        self.updates_sent = Counter(
            "channelsync_updates_sent_total",
            "Outbox entries the marketplace accepted.",
            labels,
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "channelsync_outbox_depth",
            "Outbox entries waiting to be sent.",
            labels,
            registry=self.registry,
        )
        self.parked = Gauge(
            "channelsync_parked_items",
            "Parked outbox entries and records, waiting for a person.",
            labels,
            registry=self.registry,
        )
        self.last_pull = Gauge(
            "channelsync_last_pull_timestamp_seconds",
            "Unix time of the last successful order pull.",
            labels,
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "channelsync_last_sync_timestamp_seconds",
            "Unix time the channel last synced (its last successful order pull).",
            labels,
            registry=self.registry,
        )
        self.order_lag = Gauge(
            "channelsync_order_lag_seconds",
            "How far the order cursor is behind now.",
            labels,
            registry=self.registry,
        )
        self.healthy = Gauge(
            "channelsync_channel_healthy",
            "1 while the channel has synced recently enough (or is paused), else 0.",
            labels,
            registry=self.registry,
        )
        self.paused = Gauge(
            "channelsync_channel_paused",
            "1 while an operator has the channel paused (no marketplace call), else 0.",
            labels,
            registry=self.registry,
        )

        self.events_connected = Gauge(
            "channelsync_events_connected",
            "1 while the channel's events listener is connected, 0 while it is not.",
            labels,
            registry=self.registry,
        )
        self.events_received = Counter(
            "channelsync_events_received_total",
            "Pushed events received and written to the inbox (new ones only).",
            labels,
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "channelsync_events_duplicate_total",
            "Pushed events delivered again (already in the inbox): acknowledged, not read again.",
            labels,
            registry=self.registry,
        )
        self.last_event = Gauge(
            "channelsync_last_event_timestamp_seconds",
            "When the channel's events listener last received an event (Unix time).",
            labels,
            registry=self.registry,
        )

    def add_transport_registry(self, registry: CollectorRegistry) -> None:
        """Expose a channel's transport registry too."""
        self._transport.append(registry)

    def observe(self, status: ChannelStatus, *, healthy: bool) -> None:
        """Copy a channel's latest observations into the gauges."""
        name = status.name
        self.outbox_depth.labels(name).set(status.outbox_depth)
        self.parked.labels(name).set(status.parked)
        if status.last_pull is not None:
            self.last_pull.labels(name).set(status.last_pull.timestamp())
        if status.last_sync is not None:
            self.last_sync.labels(name).set(status.last_sync.timestamp())
        if status.order_lag is not None:
            self.order_lag.labels(name).set(status.order_lag)
        self.healthy.labels(name).set(1 if healthy else 0)
        self.paused.labels(name).set(1 if status.paused else 0)
        if status.events is not None:
            self.events_connected.labels(name).set(1 if status.events == "connected" else 0)
        if status.last_event_at is not None:
            self.last_event.labels(name).set(status.last_event_at.timestamp())


class HealthReport:
    """The health check's answer: healthy or not, and each channel's state."""

    def __init__(self, ok: bool, channels: Mapping[str, dict[str, object]]) -> None:
        self.ok = ok
        self.channels = dict(channels)

    def to_json(self) -> str:
        """Return the report as JSON."""
        return json.dumps({"ok": self.ok, "channels": self.channels}, default=str)


def health(statuses: Iterable[ChannelStatus], now: datetime, stale_after: float) -> HealthReport:
    """Judge every channel: stale when it has not synced for ``stale_after`` seconds.

    A paused channel is healthy (it is idle on purpose) and shows its pause.
    """
    channels: dict[str, dict[str, object]] = {}
    ok = True
    for status in statuses:
        stale = status.stale(now, stale_after)
        ok = ok and not stale
        channels[status.name] = {
            "ok": not stale,
            "last_sync": status.last_sync.isoformat() if status.last_sync else None,
            "last_pull": status.last_pull.isoformat() if status.last_pull else None,
            "last_error": status.last_error,
            "paused": _pause(status),
        }
        if status.events is not None:
            # A listener down is not unhealthy (polling covers it), but it is shown.
            channels[status.name]["events"] = {
                "state": status.events,
                "received": status.events_received,
                "duplicates": status.events_duplicate,
                "last_event": status.last_event_at.isoformat() if status.last_event_at else None,
                "error": status.events_error,
            }
    return HealthReport(ok, channels)


def _pause(status: ChannelStatus) -> dict[str, object] | None:
    if not status.paused:
        return None
    return {
        "since": status.paused_since.isoformat() if status.paused_since else None,
        "by": status.paused_by,
        "reason": status.paused_reason,
    }


def transport_totals(channel: Channel[Any]) -> tuple[int, int, int]:
    """Return a channel's transport totals so far: requests, throttles, retries."""
    requests = throttles = retries = 0.0
    for family in channel.metrics.registry.collect():
        for sample in family.samples:
            if sample.labels.get("channel") != channel.name:
                continue
            if sample.name == "channelsync_http_requests_total":
                requests += sample.value
            elif sample.name == "channelsync_http_throttles_total":
                throttles += sample.value
            elif sample.name == "channelsync_http_retries_total":
                retries += sample.value
    return int(requests), int(throttles), int(retries)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on a background thread (the daemon's loop stays free).

    Raises :class:`~channelsync.errors.ConfigurationError` when the address cannot be
    bound (a port in use), so the command exits 2 with the port named.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        check: Callable[[], HealthReport],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._registry = registry
        self._check = check
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as exc:
            # A port in use, or a host this machine does not have: the operator's to fix.
            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                field="--metrics-port",
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="channelsync metrics", daemon=True
        )

    @property
    def port(self) -> int:
        """The port served (useful when 0 asked for any free one)."""
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        """Start serving; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        from prometheus_client import generate_latest  # noqa: PLC0415 - only when serving

        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(owner._registry))
                elif path == "/healthz":
                    report = owner._check()
                    status = 200 if report.ok else 503
                    self._send(status, "application/json", report.to_json().encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                # Scrapes every few seconds would drown the daemon's own log.
                return

        return _Handler
