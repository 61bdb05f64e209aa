"""The ledger export's cells: text a spreadsheet would run is neutralised, numbers stay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from stockline.inventory.ledger_csv import COLUMNS, cells


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 7,
        "product_id": 3,
        "sku": "TEA-1",
        "delta": -5,
        "source": "manual_adjustment",
        "reason": "broken",
        "admin_id": 1,
        "transaction_id": None,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    return {**row, **changes}


def test_a_plain_row_is_written_as_is() -> None:
    assert cells(_row()) == [
        7,
        3,
        "TEA-1",
        -5,
        "manual_adjustment",
        "broken",
        1,
        "",
        "2026-01-02T03:04:05+00:00",
    ]
    assert len(COLUMNS) == len(cells(_row()))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_that_would_start_a_formula_gets_a_leading_apostrophe(start: str) -> None:
    out = cells(_row(sku=f"{start}HYPERLINK(1)", reason=f"{start}cmd|' /C calc'!A0"))
    assert out[2] == f"'{start}HYPERLINK(1)"
    assert out[5] == f"'{start}cmd|' /C calc'!A0"


def test_a_negative_delta_stays_a_number() -> None:
    assert cells(_row(delta=-12))[3] == -12


def test_an_apostrophe_or_a_formula_character_later_in_the_text_is_left_alone() -> None:
    out = cells(_row(sku="'quoted", reason="a=b+c"))
    assert (out[2], out[5]) == ("'quoted", "a=b+c")
