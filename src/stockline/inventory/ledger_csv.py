"""The ledger export's columns and cells. Pure: a row in, CSV cells out.

Text cells go through `spreadsheet.neutralise` (SPEC 7.1): a SKU or reason such as
`=HYPERLINK(…)` is written as `'=HYPERLINK(…)`, so a spreadsheet shows it instead
of running it. Numbers stay numbers: `-5` is a delta, not a formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockline.spreadsheet import neutralise

COLUMNS = (
    "id",
    "product_id",
    "sku",
    "delta",
    "source",
    "reason",
    "admin_id",
    "transaction_id",
    "created_at",
)


def cells(row: Mapping[str, Any]) -> list[str | int]:
    return [
        row["id"],
        row["product_id"],
        neutralise(row["sku"]),
        row["delta"],
        neutralise(row["source"]),
        neutralise(row["reason"] or ""),
        row["admin_id"] or "",
        row["transaction_id"] or "",
        row["created_at"].isoformat(),
    ]
