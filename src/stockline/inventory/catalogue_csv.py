"""The catalogue file: parse and check an import CSV, and the export's columns.

Pure: bytes in, rows and per-line errors out, no I/O. What only the database can
know (a barcode held by a product outside the file) is checked in catalogue.py.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from stockline.inventory.models import Product
from stockline.spreadsheet import neutralise, restore

COLUMNS = (
    "sku",
    "name",
    "price_cents",
    "low_stock_threshold",
    "category",
    "barcode",
    "initial_stock",
)
REQUIRED = ("sku", "name", "price_cents")
# the bounds of the JSON API (api/schemas.py), so a file can hold nothing the API refuses
PRICE_MAX = 10_000_000_000
COUNT_MAX = 1_000_000_000
_DIGITS = re.compile(r"[0-9]+")
_BARCODE = re.compile(r"[!-~]+")
_TEXT_MAX = {"sku": 64, "name": 200, "category": 100, "barcode": 64}
# a file can be wrong on every line; the answer names the first ones only
MAX_ERRORS = 1000


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    message: str


@dataclass(frozen=True)
class ImportRow:
    line: int
    sku: str
    name: str
    price_cents: int
    low_stock_threshold: int | None
    category: str | None
    barcode: str | None
    initial_stock: int


@dataclass(frozen=True)
class ParsedFile:
    columns: frozenset[str]  # which optional columns the file sets (absent ones stay)
    rows: list[ImportRow]
    errors: list[LineError]


class _Errors:
    def __init__(self) -> None:
        self.items: list[LineError] = []

    def add(self, line: int, field: str | None, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(LineError(line, field, message))


def _decode(data: bytes, errors: _Errors) -> str | None:
    try:
        # utf-8-sig drops the byte-order mark spreadsheets put in front
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add(data.count(b"\n", 0, exc.start) + 1, None, "the file is not UTF-8 text")
        return None


def _header(cells: list[str], errors: _Errors) -> list[str] | None:
    names = [c.strip().lower() for c in cells]
    seen: set[str] = set()
    for name in names:
        if name not in COLUMNS:
            errors.add(1, name or None, f"unknown column {name!r}; expected {', '.join(COLUMNS)}")
        elif name in seen:
            errors.add(1, name, f"column {name!r} appears twice")
        seen.add(name)
    for name in REQUIRED:
        if name not in seen:
            errors.add(1, name, f"missing required column {name!r}")
    return None if errors.items else names


def _text(values: dict[str, str], field: str, errors: _Errors, line: int) -> str | None:
    value = values.get(field, "")
    if not value:
        if field in REQUIRED:
            errors.add(line, field, f"{field} is required")
        return None
    if len(value) > _TEXT_MAX[field]:
        errors.add(line, field, f"{field} is longer than {_TEXT_MAX[field]} characters")
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        errors.add(line, field, f"{field} contains a control character")
        return None
    if field == "barcode" and not _BARCODE.fullmatch(value):
        errors.add(line, field, "barcode must be printable ASCII without spaces")
        return None
    return value


def _number(
    values: dict[str, str], field: str, upper: int, errors: _Errors, line: int
) -> int | None:
    value = values.get(field, "")
    if not value:
        if field in REQUIRED:
            errors.add(line, field, f"{field} is required")
        return None
    if not _DIGITS.fullmatch(value) or int(value) > upper:
        errors.add(line, field, f"{field} must be a whole number from 0 to {upper}")
        return None
    return int(value)


def _row(line: int, values: dict[str, str], errors: _Errors) -> ImportRow | None:
    before = len(errors.items)
    sku = _text(values, "sku", errors, line)
    name = _text(values, "name", errors, line)
    price = _number(values, "price_cents", PRICE_MAX, errors, line)
    threshold = _number(values, "low_stock_threshold", COUNT_MAX, errors, line)
    category = _text(values, "category", errors, line)
    barcode = _text(values, "barcode", errors, line)
    initial = _number(values, "initial_stock", COUNT_MAX, errors, line)
    if len(errors.items) > before or sku is None or name is None or price is None:
        return None
    return ImportRow(line, sku, name, price, threshold, category, barcode, initial or 0)


def _duplicates(rows: list[ImportRow], errors: _Errors) -> None:
    for field in ("sku", "barcode"):
        first: dict[str, int] = {}
        for row in rows:
            value = getattr(row, field)
            if value is None:
                continue
            if value in first:
                errors.add(row.line, field, f"{field} {value!r} is also on line {first[value]}")
            else:
                first[value] = row.line


def parse_catalogue(data: bytes) -> ParsedFile:
    """Every line checked: a file with errors is refused whole, so list them all."""
    errors = _Errors()
    text = _decode(data, errors)
    if text is None:
        return ParsedFile(frozenset(), [], errors.items)
    # newline="" lets the csv module see CRLF and newlines inside quoted cells
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[ImportRow] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1  # the next record starts after this one
            if not cells or cells == [""]:
                continue
            if header is None:
                header = _header(cells, errors)
                if header is None:
                    return ParsedFile(frozenset(), [], sorted(errors.items, key=_order))
                continue
            if len(cells) != len(header):
                errors.add(start, None, f"expected {len(header)} cells, found {len(cells)}")
                continue
            # restore() first: the apostrophe our export adds sits before any whitespace
            values = {col: restore(cell).strip() for col, cell in zip(header, cells, strict=True)}
            row = _row(start, values, errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        errors.add(reader.line_num, None, f"the file is not valid CSV: {exc}")
    if header is None:
        errors.add(
            1,
            None,
            f"the file is empty; the first line must name columns, e.g. {','.join(COLUMNS)}",
        )
    _duplicates(rows, errors)
    return ParsedFile(frozenset(header or ()), rows, sorted(errors.items, key=_order))


def _order(e: LineError) -> tuple[int, str]:
    return (e.line, e.field or "")


def export_cells(product: Product) -> list[str | int]:
    """One product as a line of the import's columns; initial_stock carries the current
    stock (negative stock as 0, as an import cannot start below zero), so an export
    seeds another shop with the same catalogue."""
    return [
        neutralise(product.sku),
        neutralise(product.name),
        product.price_cents,
        "" if product.low_stock_threshold is None else product.low_stock_threshold,
        neutralise(product.category or ""),
        neutralise(product.barcode or ""),
        max(product.current_stock, 0),
    ]
