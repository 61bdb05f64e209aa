"""Does sharing one statement among purchases pay? The service's purchase statement one
per transaction beside its batch statement (migration 0028), same run (issue 11,
decision 0003).

    python -m bench.group_commit [--seconds 5] [--rounds 2]

pgbench on one scratch database, 3-line purchases with an Idempotency-Key each, events
positioned after commit (as on the service's connections); numbering is left out on
both sides (the service shares it between purchases already). Cases:

- the raw kiosk SQL of bench/purchases at 8 clients (the baseline);
- one purchase a transaction: `stockline_transactions_purchase_v1`, 8 clients;
- batches of k: `stockline_transactions_purchase_batch_v1` with k purchases a call, so
  8 purchases in flight (k=2: 4 clients, k=4: 2 clients), and k=8 from 1 and 2 clients.

Besides purchases/s it prints PostgreSQL's CPU per purchase: the machine's busy time
over the phase less pgbench's own (so run it on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import resource
from collections.abc import Callable
from typing import Any

import psycopg

from bench._common import database, machine
from bench.purchases import AFTER_COMMIT, RAW_SETUP, _lines, as_pgbench, pg_load, raw_script, seed
from stockline.db.queries import load

TOKEN_HASH = "'\\x01'::bytea"  # the bench kiosk's (its token is never needed)


def single_script(ids: list[int]) -> str:
    """One purchase per transaction: the service's statement, as bench/purchases runs it."""
    return "\n".join([*_lines(ids), as_pgbench(load("inventory")["insert_purchase"]) + ";"])


def batch_script(ids: list[int], k: int) -> str:
    """k purchases of 3 lines in one call of the service's batch statement."""
    lines: list[str] = []
    products: list[str] = []
    for j in range(k):
        for n, line in enumerate(_lines(ids), 1):
            lines.append(line.replace(f"p{n} ", f"p{j}_{n} "))
            products.append(f":p{j}_{n}")
    keys = ", ".join(f"(:client_id || '-{j}-' || random()::text)" for j in range(k))
    owners = ", ".join(str(j + 1) for j in range(k) for _ in range(3))
    return "\n".join(
        [
            *lines,
            f"SELECT stockline_transactions_purchase_batch_v1(array_fill({TOKEN_HASH},"
            f" ARRAY[{k}]), ARRAY[{keys}], array_fill('\\x00'::bytea, ARRAY[{k}]),"
            f" ARRAY[{owners}], ARRAY[{', '.join(products)}]::bigint[],"
            f" array_fill(1, ARRAY[{3 * k}]));",
        ]
    )


def _busy() -> float:
    """Seconds of CPU the machine spent (Linux /proc/stat), less what this process's
    children (pgbench) did."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = os.sysconf("SC_CLK_TCK")
    busy = (user + nice + system + irq + softirq) / ticks
    return busy - children.ru_utime - children.ru_stime


def measured(
    run: Callable[[], dict[str, Any]], per_call: int, seconds: float
) -> tuple[float, float]:
    """(purchases/s, PostgreSQL CPU µs per purchase) of one pgbench phase."""
    before = _busy()
    rate = run()["tps"] * per_call
    return rate, 1e6 * (_busy() - before) / max(1.0, rate * seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per case (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="repeat all cases (default 2)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with database() as (_admin, url):
        ids = seed(url, 60)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_SETUP)
            conn.execute(f"INSERT INTO kiosks (name, token_hash) VALUES ('bench', {TOKEN_HASH})")
        print("| round | case | clients | purchases/s | PostgreSQL CPU µs a purchase | / raw |")
        print("|---|---|---:|---:|---:|---:|")
        s = args.seconds
        for rnd in range(1, args.rounds + 1):
            raw, raw_cpu = measured(lambda: pg_load(url, raw_script(ids, notify=False), 8, s), 1, s)
            print(f"| {rnd} | raw kiosk SQL | 8 | {raw:,.0f} | {raw_cpu:,.0f} | 100% |", flush=True)
            cases = [("one purchase a transaction", single_script(ids), 8, 1)]
            for k, clients in ((2, 4), (4, 2), (8, 1), (8, 2)):
                cases.append((f"batches of {k}", batch_script(ids, k), clients, k))
            for name, script, clients, k in cases:
                rate, cpu = measured(
                    lambda script=script, clients=clients: pg_load(  # type: ignore[misc]
                        url, script, clients, s, AFTER_COMMIT
                    ),
                    k,
                    s,
                )
                print(
                    f"| {rnd} | {name} | {clients} | {rate:,.0f} | {cpu:,.0f} | {rate / raw:.0%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
