"""What does gapless event numbering cost writers? (decisions 0001 and 0003)

Commits/s of one-row stock changes (each emits one stock-updated event) on distinct
products at several concurrencies, three ways on the same database: decision 0001's
counter row held to COMMIT; decision 0003's positions after commit (the writer commits,
then numbers what is committed, as the service does); and a write that emits no event
(an insert into `transactions`).

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


POSITION = "SELECT stockline_inventory_events_position_v1(1000)"


def _run(
    db_url: str, statement: str, writers: int, seconds: float, after_commit: bool = False
) -> float:
    counts = [0] * writers
    stop = threading.Event()

    def writer(i: int) -> None:
        with psycopg.connect(db_url) as conn:
            if after_commit:
                conn.execute("SET stockline.event_positions = 'after_commit'")
            while not stop.is_set():
                conn.execute(statement, (i + 1,))
                conn.commit()
                if after_commit:
                    conn.execute(POSITION)
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
    print(f"{'writers':>8} {'0001 counter/s':>15} {'0003 positions/s':>17} {'plain commits/s':>16}")
    for n in counts:
        counter = _run(db_url, EMITTING, n, args.seconds)
        positions = _run(db_url, EMITTING, n, args.seconds, after_commit=True)
        plain = _run(db_url, PLAIN, n, args.seconds)
        print(f"{n:>8} {counter:>15.0f} {positions:>17.0f} {plain:>16.0f}", flush=True)
    database.close()


if __name__ == "__main__":
    main()
