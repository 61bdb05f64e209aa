"""What does the gapless event-id design cost writers? (docs/decisions/0001)

Every event draws its id under the one-row inventory_event_counter lock, held until
commit, so event-emitting transactions commit one at a time. This measures commits/s
of one-row stock changes (each emits one stock-updated event) on distinct products at
several concurrencies, beside the same number of writers committing a write that emits
no event (an insert into `transactions`), on the same database.

    PYTHONPATH=src python bench/event_ids.py --writers 1,4,16 --seconds 5
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import _admin_url, create_database, with_dbname  # noqa: E402

from stockline.db.migrate import migrate  # noqa: E402

EMITTING = "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, -1, 'system')"
PLAIN = "INSERT INTO transactions (total_cents) VALUES (%s)"


def _run(db_url: str, statement: str, writers: int, seconds: float) -> float:
    counts = [0] * writers
    stop = threading.Event()

    def writer(i: int) -> None:
        with psycopg.connect(db_url) as conn:
            while not stop.is_set():
                conn.execute(statement, (i + 1,))
                conn.commit()
                counts[i] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    database = _admin_url()
    admin = next(database)
    db_url = with_dbname(admin, create_database(admin))
    migrate(db_url)
    counts = [int(w) for w in args.writers.split(",")]
    with psycopg.connect(db_url) as conn:
        for i in range(max(counts)):
            conn.execute(
                "INSERT INTO products (sku, name, price_cents) VALUES (%s, 'bench', 1)",
                (f"B{i}",),
            )
        conn.commit()
        settings = {
            name: row[0] if (row := conn.execute(f"SHOW {name}").fetchone()) else "?"
            for name in ("server_version", "fsync", "synchronous_commit")
        }
    print(" ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"{'writers':>8} {'event commits/s':>16} {'plain commits/s':>16}")
    for n in counts:
        emitting = _run(db_url, EMITTING, n, args.seconds)
        plain = _run(db_url, PLAIN, n, args.seconds)
        print(f"{n:>8} {emitting:>16.0f} {plain:>16.0f}", flush=True)
    database.close()


if __name__ == "__main__":
    main()
