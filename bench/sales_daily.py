"""What does the daily-sales trigger (migration 0015) cost a purchase?

    python -m bench.sales_daily [--baskets 300] [--rounds 4]

The purchase function on one connection, 3-line baskets, in rounds that alternate the
trigger on and off (ALTER TABLE ... DISABLE TRIGGER, on a throwaway database), so both
see the same machine load. Prints the median milliseconds per basket of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

import psycopg

from bench._common import database, machine

_BUY = (
    "CALL stockline_transactions_purchase_v2('bench', %s, '\\x00'::bytea, NULL,"
    " ARRAY[1, 2, 3]::bigint[], ARRAY[1, 1, 1]::int[], 1000)"
)

_TOGGLE = {
    "on": "ALTER TABLE inventory_ledger ENABLE TRIGGER inventory_ledger_sales_daily",
    "off": "ALTER TABLE inventory_ledger DISABLE TRIGGER inventory_ledger_sales_daily",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baskets", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    results: dict[str, list[float]] = {"on": [], "off": []}
    with database() as (_, url), psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET stockline.event_positions = 'after_commit'")
        conn.execute(
            "INSERT INTO products (sku, name, price_cents)"
            " SELECT 'S' || g, 'n', 1 FROM generate_series(1, 20) g"
        )
        conn.execute(
            "SELECT stockline_inventory_snapshot_refresh(id, NULL, NULL, NULL) FROM products"
        )
        for _ in range(args.rounds):
            for state in ("on", "off"):
                conn.execute(_TOGGLE[state])
                started = time.perf_counter()
                for _ in range(args.baskets):
                    conn.execute(_BUY, (uuid.uuid4().hex,))
                results[state].append((time.perf_counter() - started) / args.baskets * 1000)
    for state, values in results.items():
        print(f"  trigger {state:3s}: {statistics.median(values):6.2f} ms per basket {values}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
