"""Alerts benchmark: how fast is a breach mailed, and how fast does a dead leader get replaced?

1. Latency: N breaches (ledger rows committed straight into PostgreSQL, one at a time,
   paced), each timed from just before COMMIT to the moment the real SMTP server
   (aiosmtpd on loopback) accepts the message. Target p99 <= 1 s.
2. Failover: two `stockline serve` instances; kill -9 the leader's whole instance,
   time until the survivor holds the lock (read from pg_locks), restart the dead one
   as a follower, repeat. After each trial a new breach must arrive exactly once
   (never two dispatchers). Target <= 5 s.

    PYTHONPATH=src python bench/alerts.py [--breaches 200] [--trials 10] [--workers 2]

Uses DATABASE_URL when set (a server you may create databases on), else an embedded
PostgreSQL 18 in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.postgres import _admin_url, create_database, drop_database, with_dbname
from tests.fixtures.server import Server, start_server
from tests.fixtures.smtp import SmtpServer

from stockline.alerts.leader import LOCK_PARAMS

STAFF = "staff@shop.example.com"
HOLDER_SQL = """
SELECT l.instance_id FROM notification_worker_leader l
  JOIN pg_locks k ON k.pid = l.backend_pid AND k.locktype = 'advisory' AND k.granted
   AND k.classid = %(classid)s::bigint::oid AND k.objid = %(objid)s::bigint::oid
   AND k.objsubid = 1
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def make_products(db: str, count: int) -> list[int]:
    with psycopg.connect(db) as conn:
        ids = []
        for i in range(count):
            row = conn.execute(
                "INSERT INTO products (sku, name, price_cents, low_stock_threshold)"
                " VALUES (%s, %s, 100, 1) RETURNING id",
                (f"BENCH-{time.time_ns()}-{i}", f"Bench product {i}"),
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, 2, 'system')",
                (row[0],),
            )
            ids.append(int(row[0]))
    return ids


def breach(db: str, product_id: int) -> float:
    """Commit the crossing ledger row; the time just before COMMIT."""
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source, reason)"
            " VALUES (%s, -1, 'manual_adjustment', 'bench')",
            (product_id,),
        )
        t0 = time.time()
        conn.commit()
    return t0


def arrival(smtp: SmtpServer, product_id: int, timeout: float = 30) -> float:
    tag = f"<low-stock.{product_id}."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in smtp.received():
            if r.message_id.startswith(tag):
                return r.at
        time.sleep(0.002)
    raise RuntimeError(f"no mail for product {product_id} in {timeout}s")


def bench_latency(db: str, smtp: SmtpServer, n: int, workers: int) -> dict[str, Any]:
    server = start_server(
        db,
        workers=workers,
        env={
            **smtp.env(),
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "STOCKLINE_WORKER_POLL_SECONDS": "30",
            "STOCKLINE_LOG_LEVEL": "WARNING",
        },
    )
    try:
        products = make_products(db, n)
        smtp.reset()
        latencies = []
        for pid in products:
            t0 = breach(db, pid)
            latencies.append(arrival(smtp, pid) - t0)
            time.sleep(0.02)
        counts: dict[str, int] = {}
        for r in smtp.received():
            counts[r.message_id] = counts.get(r.message_id, 0) + 1
    finally:
        server.stop()
    return {
        "n": n,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "duplicates": sum(1 for c in counts.values() if c > 1),
    }


def holder(db: str) -> str | None:
    with psycopg.connect(db) as conn:
        rows = conn.execute(HOLDER_SQL, LOCK_PARAMS).fetchall()
    if len(rows) > 1:
        raise AssertionError(f"two lock holders: {rows}")
    return str(rows[0][0]) if rows else None


def bench_failover(db: str, smtp: SmtpServer, trials: int, workers: int) -> dict[str, Any]:
    env = {
        **smtp.env(),
        "ADMIN_NOTIFICATION_EMAILS": STAFF,
        "STOCKLINE_LOG_LEVEL": "WARNING",
        "STOCKLINE_LEADER_RETRY_SECONDS": os.environ.get("STOCKLINE_LEADER_RETRY_SECONDS", "2"),
    }

    def start(name: str) -> Server:
        return start_server(db, workers=workers, env={**env, "STOCKLINE_INSTANCE_ID": name})

    servers = {name: start(name) for name in ("bench-a", "bench-b")}
    times: list[float] = []
    duplicates = 0
    try:
        for trial in range(trials):
            deadline = time.monotonic() + 30
            while (lead := holder(db)) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("no leader")
                time.sleep(0.05)
            survivor = next(n for n in servers if n != lead)
            servers[lead].kill()
            t0 = time.monotonic()
            while holder(db) != survivor:
                time.sleep(0.02)
            times.append(time.monotonic() - t0)
            # a fresh breach after the handover is mailed exactly once
            (pid,) = make_products(db, 1)
            smtp.reset()
            breach(db, pid)
            arrival(smtp, pid)
            time.sleep(0.5)
            duplicates += sum(1 for r in smtp.received()) - 1
            servers[lead] = start(lead)
            print(f"  trial {trial + 1}: {times[-1]:.2f} s", file=sys.stderr)
    finally:
        for s in servers.values():
            s.stop()
    return {
        "trials": trials,
        "median": statistics.median(times),
        "max": max(times),
        "duplicates": duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--breaches", type=int, default=200)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    admin_gen = _admin_url()
    admin = next(admin_gen)
    smtp = SmtpServer().start()
    name = create_database(admin)
    db = with_dbname(admin, name)
    try:
        from stockline.db.migrate import migrate

        migrate(db)
        with psycopg.connect(db) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(
            f"machine: {platform.node()}, {os.cpu_count()} cpu, {platform.machine()},"
            f" Python {platform.python_version()}, PostgreSQL {version[0] if version else '?'}",
        )
        lat = bench_latency(db, smtp, args.breaches, args.workers)
        print(
            f"latency breach commit -> SMTP accepted over {lat['n']} breaches"
            f" (serve --workers {args.workers}): p50 {lat['p50'] * 1000:.0f} ms,"
            f" p99 {lat['p99'] * 1000:.0f} ms, max {lat['max'] * 1000:.0f} ms,"
            f" duplicate Message-IDs {lat['duplicates']}"
        )
        fo = bench_failover(db, smtp, args.trials, args.workers)
        print(
            f"failover after kill -9 of the leader instance over {fo['trials']} trials:"
            f" median {fo['median']:.2f} s, max {fo['max']:.2f} s,"
            f" duplicate deliveries {fo['duplicates']}"
        )
    finally:
        smtp.stop()
        drop_database(admin, name)
        admin_gen.close()


if __name__ == "__main__":
    main()
