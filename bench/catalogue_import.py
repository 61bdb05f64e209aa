"""How long does a 10,000-line catalogue import take?

    python -m bench.catalogue_import [--rows 10000] [--repeat 3]

Same run, same machine, each on its own fresh database:
- `import`: POST /api/products/import (new SKUs with initial stock) against
  `serve --workers 2`, wall time of the HTTP call (parse, check, write, commit);
- `update`: the same file again with every name changed (all updates, no stock);
- `dry run`: the same file with ?dry_run=true;
- `raw SQL`: the baseline: COPY of the same rows into products, then one INSERT ... SELECT
  of their `system` ledger rows (triggers on, as the import runs them), in one
  transaction, from this process.
Target: the import of 10,000 rows <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx
import psycopg

from bench._common import database, machine, make_admin, serve

HEADER = "sku,name,price_cents,low_stock_threshold,category,barcode,initial_stock"


def catalogue(rows: int, prefix: str, name: str = "Product") -> str:
    lines = [HEADER]
    for i in range(rows):
        lines.append(
            f"{prefix}-{i},{name} {i},{100 + i % 900},{i % 7 or ''},"
            f"Category {i % 25},{prefix}{i:08d},{i % 40}"
        )
    return "\n".join(lines) + "\n"


def raw_sql(db_url: str, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn, conn.transaction():
        with conn.cursor().copy(
            "COPY products (sku, name, price_cents, low_stock_threshold, category, barcode)"
            " FROM STDIN"
        ) as copy:
            for i in range(rows):
                copy.write_row(
                    (
                        f"R-{i}",
                        f"Product {i}",
                        100 + i % 900,
                        i % 7 or None,
                        f"Category {i % 25}",
                        f"R{i:08d}",
                    )
                )
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source, reason)"
            " SELECT id, (substr(sku, 3))::int % 40, 'system', 'initial stock'"
            "   FROM products WHERE sku LIKE 'R-%%' AND (substr(sku, 3))::int % 40 > 0"
            "  ORDER BY id"
        )
    return time.perf_counter() - started


def timed_post(client: httpx.Client, body: str, **params: str) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    resp = client.post(
        "/api/products/import",
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        params=params,
    )
    elapsed = time.perf_counter() - started
    resp.raise_for_status()
    return elapsed, resp.json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    results: dict[str, list[float]] = {"import": [], "update": [], "dry run": [], "raw SQL": []}
    for n in range(args.repeat):
        with database() as (_, url):
            results["raw SQL"].append(raw_sql(url, args.rows))
        with database() as (_, url):
            served = serve(url)
            try:
                email, password = make_admin(url)
                base = f"http://127.0.0.1:{served.port}"
                token = httpx.post(
                    base + "/api/auth/login", json={"email": email, "password": password}
                ).json()["access_token"]
                with httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
                ) as client:
                    body = catalogue(args.rows, f"B{n}")
                    elapsed, answer = timed_post(client, body, dry_run="true")
                    results["dry run"].append(elapsed)
                    elapsed, answer = timed_post(client, body)
                    assert answer["created"] == args.rows, answer
                    results["import"].append(elapsed)
                    elapsed, answer = timed_post(client, catalogue(args.rows, f"B{n}", "Renamed"))
                    assert answer["updated"] == args.rows, answer
                    results["update"].append(elapsed)
            finally:
                served.stop()
    size = len(catalogue(args.rows, "B0").encode())
    print(f"{args.rows:,} rows, {size / 2**20:.2f} MiB, {args.repeat} runs each (median, max):")
    for label, values in results.items():
        print(f"  {label:8s} {statistics.median(values):6.2f} s  {max(values):6.2f} s")
    ratio = statistics.median(results["import"]) / statistics.median(results["raw SQL"])
    print(f"import / raw SQL: {ratio:.1f}x; load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
