"""`stockline verify`: S-1 for every product, checked in id ranges with progress."""

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


def verify(
    conn: psycopg.Connection[Any],
    *,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> list[Mismatch]:
    """Every product whose stock, snapshot, ledger sum or flags disagree.

    Runs in one REPEATABLE READ transaction so a live shop is checked as of one moment.
    """
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    found: list[Mismatch] = []
    with conn.transaction():
        bounds = conn.execute(_Q["select_product_id_bounds"]).fetchone()
        assert bounds is not None
        lo, hi, total = int(bounds[0]), int(bounds[1]), int(bounds[2])
        done = 0
        start = lo
        with conn.cursor(row_factory=class_row(Mismatch)) as cur:
            while total and start <= hi:
                end = start + batch - 1
                cur.execute(_Q["select_mismatches"], {"lo": start, "hi": end})
                found.extend(cur.fetchall())
                done = min(total, done + batch)
                if progress:
                    progress(min(end, hi) - lo + 1, hi - lo + 1)
                start = end + 1
    return found
