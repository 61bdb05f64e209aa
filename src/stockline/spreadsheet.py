"""Spreadsheet-safe CSV cells (SPEC 7.1): a cell that a spreadsheet would run as a
formula gets a leading apostrophe on the way out, and loses it again on the way in,
so an exported file imports back unchanged. A leaf: anyone may import it."""

from __future__ import annotations

# what Excel, LibreOffice and Sheets treat as the start of a formula (OWASP CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _guarded(cell: str) -> bool:
    """A formula start, or apostrophes before one ("'=x" is an apostrophe guarding "=x")."""
    return cell.lstrip("'").startswith(_FORMULA_START)


def neutralise(cell: str) -> str:
    """One more apostrophe before a formula start, however many are there already, so
    that `restore` takes off exactly the one added here: "=x" -> "'=x", "'=x" -> "''=x"."""
    return "'" + cell if _guarded(cell) else cell


def restore(cell: str) -> str:
    """Undo `neutralise`: only an apostrophe that guards a formula start is ours."""
    return cell[1:] if cell.startswith("'") and _guarded(cell[1:]) else cell
