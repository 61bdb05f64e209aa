"""`stockline verify`: S-1 for every product, checked in batches with progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

from stockline.db.queries import load

_Q = load("verify")


@dataclass(frozen=True)
class Mismatch:
    product_id: int
    sku: str
    stock_quantity: int
    current_stock: int | None
    ledger_sum: int
    low_stock_flag: bool | None
    negative_flag: bool | None
    low_stock_threshold: int | None

    def describe(self) -> str:
        return (
            f"product {self.product_id} ({self.sku}): products.stock_quantity="
            f"{self.stock_quantity} snapshot.current_stock={self.current_stock} "
            f"SUM(ledger.delta)={self.ledger_sum} low_stock_flag={self.low_stock_flag} "
            f"negative_flag={self.negative_flag} threshold={self.low_stock_threshold}"
        )


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    mismatches: list[Mismatch]


def verify(
    conn: psycopg.Connection[Any],
    *,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Every product whose stock, snapshot, ledger sum or flags disagree.

    Runs in one REPEATABLE READ transaction so a live shop is checked as of one moment;
    `progress(done, total)` counts products.
    """
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    found: list[Mismatch] = []
    done = 0
    with conn.transaction():
        row = conn.execute(_Q["select_product_count"]).fetchone()
        total = int(row[0]) if row else 0
        lo = 0
        with conn.cursor(row_factory=class_row(Mismatch)) as cur:
            while done < total:
                step = conn.execute(_Q["select_next_batch"], {"lo": lo, "batch": batch}).fetchone()
                if step is None or not step[1]:
                    break
                hi, n = int(step[0]), int(step[1])
                cur.execute(_Q["select_mismatches"], {"lo": lo, "hi": hi})
                found.extend(cur.fetchall())
                done += n
                if progress:
                    progress(done, total)
                lo = hi + 1
    return VerifyResult(checked=done, mismatches=found)
