"""Spreadsheet-safe CSV cells (SPEC 7.1): a cell that a spreadsheet would run as a
formula gets a leading apostrophe on the way out, and loses it again on the way in,
so an exported file imports back unchanged. A leaf: anyone may import it."""

from __future__ import annotations

# what Excel, LibreOffice and Sheets treat as the start of a formula (OWASP CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def restore(cell: str) -> str:
    """Undo `neutralise`: only an apostrophe that guards a formula start is ours."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell
