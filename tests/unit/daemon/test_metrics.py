from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from channelsync.daemon import ChannelStatus, DaemonMetrics, MetricsServer, health
from channelsync.http import TransportMetrics

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

#: The names operators build dashboards on: renaming one is a breaking change.
EXPECTED = {
    "channelsync_http_requests",
    "channelsync_http_retries",
    "channelsync_http_throttles",
    "channelsync_http_request_seconds",
    "channelsync_channel_errors",
    "channelsync_orders_imported",
    "channelsync_updates_sent",
    "channelsync_outbox_depth",
    "channelsync_parked_items",
    "channelsync_last_pull_timestamp_seconds",
    "channelsync_last_sync_timestamp_seconds",
    "channelsync_order_lag_seconds",
    "channelsync_channel_healthy",
}


def families(metrics: DaemonMetrics) -> dict[str, list[object]]:
    text = generate_latest(metrics.registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_daemon_and_every_channels_transport_metrics_in_one_exposition() -> None:
    tmall, jd = TransportMetrics(), TransportMetrics()
    tmall.observe_request("tmall-main", "taobao.items.get", "ok", 0.1)
    tmall.count_throttle("tmall-main", "taobao.items.get")
    jd.observe_request("jd-pop", "jingdong.ware.read", "RateLimitedError", 0.2)
    jd.count_retry("jd-pop", "jingdong.ware.read")
    metrics = DaemonMetrics([tmall.registry, jd.registry])
    status = ChannelStatus("jd-pop", last_pull=NOW, last_sync=NOW, outbox_depth=3, parked=1)
    status.order_lag = 90.0
    metrics.observe(status, healthy=True)
    metrics.errors.labels("jd-pop", "pull", "TransientError").inc()
    found = families(metrics)
    assert set(found) >= EXPECTED
    requests = {
        (s.labels["channel"], s.labels["outcome"])  # type: ignore[attr-defined]
        for s in found["channelsync_http_requests"]
        if s.name.endswith("_total")  # type: ignore[attr-defined]
    }
    assert requests == {("tmall-main", "ok"), ("jd-pop", "RateLimitedError")}
    depth = found["channelsync_outbox_depth"][0]
    assert (depth.labels, depth.value) == ({"channel": "jd-pop"}, 3.0)  # type: ignore[attr-defined]


def test_health_fails_when_a_channel_has_not_synced_for_too_long() -> None:
    fresh = ChannelStatus("tmall-main", started=NOW, last_sync=NOW - timedelta(seconds=30))
    stale = ChannelStatus("jd-pop", started=NOW - timedelta(hours=1))
    stale.last_sync = NOW - timedelta(seconds=700)
    stale.last_error = "pull: AuthenticationError: session expired"
    assert health([fresh], NOW, stale_after=600).ok
    report = health([fresh, stale], NOW, stale_after=600)
    assert not report.ok
    assert report.channels["jd-pop"]["ok"] is False
    assert report.channels["jd-pop"]["last_error"] == stale.last_error
    assert report.channels["tmall-main"]["ok"] is True
    # A channel that just started has until stale_after to sync for the first time.
    starting = ChannelStatus("pdd", started=NOW - timedelta(seconds=10))
    assert health([starting], NOW, stale_after=600).ok


def test_the_endpoint_serves_metrics_and_health() -> None:
    metrics = DaemonMetrics()
    verdict = {"ok": True}

    def check() -> object:
        status = ChannelStatus("tmall-main", started=NOW)
        return health([status], NOW + timedelta(seconds=0 if verdict["ok"] else 900), 600)

    with MetricsServer(metrics.registry, check) as server:  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{server.port}"
        page = httpx.get(f"{base}/metrics")
        assert page.status_code == 200
        assert "channelsync_outbox_depth" in page.text
        assert httpx.get(f"{base}/healthz").json()["ok"] is True
        verdict["ok"] = False
        failing = httpx.get(f"{base}/healthz")
        assert failing.status_code == 503
        assert failing.json()["channels"]["tmall-main"]["ok"] is False
        assert httpx.get(f"{base}/other").status_code == 404
