"""Prometheus collectors. With several worker processes, PROMETHEUS_MULTIPROC_DIR is set
by `stockline serve` before any worker starts and /metrics aggregates across them."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("stockline_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("stockline_http_request_seconds", "HTTP request latency", ["route"])
PURCHASES = Counter("stockline_purchases_total", "Purchases recorded")
LEDGER_ROWS = Counter("stockline_ledger_rows_total", "Ledger rows written", ["source"])
SSE_SUBSCRIBERS = Gauge(
    "stockline_sse_subscribers", "Open SSE streams", multiprocess_mode="livesum"
)
EVENTS_DELIVERED = Counter("stockline_sse_events_delivered_total", "Events fanned out")
EVENTS_UNPOSITIONED_SECONDS = Gauge(
    "stockline_events_unpositioned_seconds",
    "Age of the oldest committed event still waiting for its stream position (0: none)",
    multiprocess_mode="livemax",
)
EVENT_POSITION_TIMEOUTS = Counter(
    "stockline_event_position_timeouts_total",
    "Commands that answered before their events were numbered (the counter row was held)",
)
NOTIFICATION_ATTEMPTS = Counter(
    "stockline_notification_attempts_total", "Mail delivery attempts", ["outcome"]
)
WORKER_LEADER = Gauge(
    "stockline_worker_leader",
    "1 in the process that holds the worker lock",
    multiprocess_mode="livemax",
)
NOTIFICATION_QUEUE = Gauge(
    "stockline_notifications", "Notifications by status", ["status"], multiprocess_mode="livemax"
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
