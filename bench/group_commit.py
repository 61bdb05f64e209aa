"""Would app-level group commit pay? The purchase statement one per transaction beside
batches of k purchases in one transaction, same run (issue 11, decision 0003).

    python -m bench.group_commit [--seconds 5] [--rounds 2]

A prototype only: the batch function (`bench_group_commit`, created in the bench's own
scratch database, never in the service's migrations) runs the service's own
`stockline_transactions_purchase_v1` once per purchase, each in its own subtransaction
(an EXCEPTION block, so a refused purchase rolls back alone), under one COMMIT.

- "prelock": the batch first locks every product of every purchase in id order. Without
  it two batches lock one another's products in opposite orders and deadlock (the rows
  without prelock show it: throughput collapses and p99 is `deadlock_timeout`).
- 8 concurrent purchases each time: 8 single clients, 2 clients of 4, 4 clients of 2.
- Baseline in the same run: the raw kiosk SQL of bench/purchases at 8 clients.
Every purchase has 3 lines and an Idempotency-Key. Numbering (decision 0003) is left
out on both sides: it is shared between purchases already.
"""

from __future__ import annotations

import argparse

import psycopg

from bench._common import database, machine
from bench.purchases import (
    AFTER_COMMIT,
    RAW_SETUP,
    _lines,
    as_pgbench,
    pg_load,
    raw_script,
    seed,
)
from stockline.db.queries import load

BATCH_FUNCTION = """
CREATE FUNCTION bench_group_commit(
    p_scopes text[], p_keys text[], p_hashes bytea[], p_kiosk_ids bigint[],
    p_lengths integer[], p_product_ids bigint[], p_quantities integer[], p_prelock boolean
) RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    v_out   jsonb[] := '{}';
    v_start integer := 1;
    v_n     integer;
BEGIN
    IF p_prelock THEN
        PERFORM 1 FROM products WHERE id = ANY(p_product_ids) ORDER BY id FOR UPDATE;
    END IF;
    FOR i IN 1 .. cardinality(p_lengths) LOOP
        v_n := p_lengths[i];
        BEGIN
            v_out := v_out || stockline_transactions_purchase_v1(p_scopes[i], p_keys[i],
                p_hashes[i], p_kiosk_ids[i], p_product_ids[v_start:v_start + v_n - 1],
                p_quantities[v_start:v_start + v_n - 1]);
        EXCEPTION WHEN OTHERS THEN
            v_out := v_out || jsonb_build_object('outcome', 'error', 'sqlstate', SQLSTATE);
        END;
        v_start := v_start + v_n;
    END LOOP;
    RETURN v_out;
END $$;
ALTER FUNCTION bench_group_commit SET plan_cache_mode = force_generic_plan;
"""


def single_script(ids: list[int]) -> str:
    """One purchase per transaction: the service's statement, as bench/purchases runs it."""
    return "\n".join([*_lines(ids), as_pgbench(load("inventory")["insert_purchase"]) + ";"])


def batch_script(ids: list[int], k: int, prelock: bool) -> str:
    """k purchases of 3 lines in one call of the batch function."""
    lines: list[str] = []
    products: list[str] = []
    for j in range(k):
        for n, line in enumerate(_lines(ids), 1):
            lines.append(line.replace(f"p{n} ", f"p{j}_{n} "))
            products.append(f":p{j}_{n}")
    keys = ", ".join(f"(:client_id || '-{j}-' || random()::text)" for j in range(k))
    return "\n".join(
        [
            *lines,
            f"SELECT bench_group_commit(array_fill('kiosk:bench'::text, ARRAY[{k}]),"
            f" ARRAY[{keys}], array_fill('\\x00'::bytea, ARRAY[{k}]),"
            f" array_fill(NULL::bigint, ARRAY[{k}]), array_fill(3, ARRAY[{k}]),"
            f" ARRAY[{', '.join(products)}]::bigint[], array_fill(1, ARRAY[{3 * k}]),"
            f" {str(prelock).lower()});",
        ]
    )


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
            conn.execute(BATCH_FUNCTION)
        print("| round | case | clients | purchases/s | p99 ms (a call) | / raw |")
        print("|---|---|---:|---:|---:|---:|")
        for rnd in range(1, args.rounds + 1):
            raw = pg_load(url, raw_script(ids, notify=False), 8, args.seconds)["tps"]
            print(f"| {rnd} | raw kiosk SQL | 8 | {raw:,.0f} | - | 100 % |", flush=True)
            cases = [("one purchase a transaction", single_script(ids), 8, 1)]
            for k, clients in ((4, 2), (2, 4), (8, 1)):
                for prelock in (True, False):
                    name = f"batches of {k}" + (", prelock" if prelock else ", no prelock")
                    cases.append((name, batch_script(ids, k, prelock), clients, k))
            for name, script, clients, k in cases:
                r = pg_load(url, script, clients, args.seconds, AFTER_COMMIT)
                rate = r["tps"] * k
                print(
                    f"| {rnd} | {name} | {clients} | {rate:,.0f} | {r['p99_ms']:.1f}"
                    f" | {rate / raw:.0%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
