"""Prometheus collectors of this process. With several worker processes,
PROMETHEUS_MULTIPROC_DIR is set by `stockline serve` before any worker starts and
/metrics aggregates across them. Figures about the whole shop (ledger rows, low
products, notifications) are read from the database at scrape time: cluster_metrics."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from stockline import __version__

REQUESTS = Counter("stockline_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("stockline_http_request_seconds", "HTTP request latency", ["route"])
PURCHASES = Counter("stockline_purchases_total", "Purchases recorded")
PURCHASE_FAST_PATH = Counter(
    "stockline_purchase_fast_path_total",
    "POST /api/purchases requests answered before FastAPI's routing (api/purchasing.py)",
)
PURCHASE_BATCH_SIZE = Histogram(
    "stockline_purchase_batch_size",
    "Kiosk purchases sent to the database in one statement (inventory/purchase_batch.py)",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
)
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
# livemin: an instance whose any one worker lost its LISTEN connection reports 0
LISTENER_CONNECTED = Gauge(
    "stockline_listener_connected",
    "1 while this process's LISTEN connection is up (S-11)",
    multiprocess_mode="livemin",
)


class _Static:
    """Collects a fixed list of families (the scrape-time ones) into a registry."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def build_info() -> Metric:
    info = GaugeMetricFamily(
        "stockline_build_info", "Always 1; the labels say what runs", labels=["version", "python"]
    )
    info.add_metric([__version__, platform.python_version()], 1)
    return info


def render(extra: Iterable[Metric] = ()) -> tuple[bytes, str]:
    # `_created` series double every counter's output and no alert needs them
    disable_created_metrics()  # type: ignore[no-untyped-call]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    extras = CollectorRegistry(auto_describe=False)
    extras.register(_Static([build_info(), *extra]))
    return generate_latest(registry) + generate_latest(extras), CONTENT_TYPE_LATEST
