"""Figures about the whole shop, read from the database when /metrics is scraped.

They describe the cluster, not the process that answers: every instance reports the same
values, so aggregate them with max(), not sum(). Being read at scrape time, nothing is
kept in memory and `--workers N` cannot double them.
"""

from __future__ import annotations

from typing import Any

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from stockline.alerts.leader import LOCK_PARAMS
from stockline.alerts.notifications import queue_depth
from stockline.db.queries import load

_Q = load("metrics")
_VERIFY_Q = load("verify")
LEDGER_SOURCES = ("purchase", "manual_adjustment", "reconciliation", "system")
_INT8_MAX = 2**63 - 1


async def collect(conn: psycopg.AsyncConnection[Any], timeout_ms: int = 5000) -> list[Metric]:
    async with conn.transaction():
        # a scrape must never queue behind a slow query for long
        await conn.execute(
            "SELECT set_config('statement_timeout', %(ms)s, true)", {"ms": str(int(timeout_ms))}
        )
        cur = await conn.execute(_Q["select_ledger_rows_by_source"])
        by_source = dict.fromkeys(LEDGER_SOURCES, 0)
        for row in await cur.fetchall():
            by_source[str(row["source"])] = int(row["n"])
        stock = await (await conn.execute(_Q["select_stock_figures"])).fetchone()
        by_status = await queue_depth(conn)
        oldest = await (await conn.execute(_Q["select_oldest_pending_age"])).fetchone()
        cur = await conn.execute(_Q["select_worker_lock_holders"], LOCK_PARAMS)
        holders = await cur.fetchone()
        assert stock is not None and oldest is not None and holders is not None
        cur = await conn.execute(_VERIFY_Q["select_mismatches"], {"lo": 0, "hi": _INT8_MAX})
        mismatches = len(await cur.fetchall())

    ledger = CounterMetricFamily(
        "stockline_ledger_rows", "Ledger rows in the database, by source", labels=["source"]
    )
    for source, n in by_source.items():
        ledger.add_metric([source], n)
    notifications = GaugeMetricFamily(
        "stockline_notifications", "Notifications in the database, by status", labels=["status"]
    )
    for status, n in by_status.items():
        notifications.add_metric([status], n)
    return [
        ledger,
        GaugeMetricFamily(
            "stockline_products_low", "Active products at or below their threshold", stock["low"]
        ),
        GaugeMetricFamily(
            "stockline_products_negative", "Active products with negative stock", stock["negative"]
        ),
        GaugeMetricFamily("stockline_products", "Active products", stock["products"]),
        notifications,
        GaugeMetricFamily(
            "stockline_notification_oldest_pending_age_seconds",
            "Age of the oldest notification still pending, sending or retrying (0: none)",
            oldest["seconds"],
        ),
        GaugeMetricFamily(
            "stockline_worker_lock_holders",
            "Sessions holding the mail worker lock (1 healthy, 0 nobody sends mail)",
            holders["n"],
        ),
        GaugeMetricFamily(
            "stockline_verify_mismatches",
            "Products whose stock, snapshot and ledger sum or flags disagree (stockline verify)",
            mismatches,
        ),
    ]
