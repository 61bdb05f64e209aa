"""The catalogue file parser: what a spreadsheet hands us, line by line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stockline.inventory.catalogue_csv import COLUMNS, export_cells, parse_catalogue
from stockline.spreadsheet import neutralise, restore

HEADER = ",".join(COLUMNS)


def _errors(data: bytes) -> list[tuple[int, str | None]]:
    return [(e.line, e.field) for e in parse_catalogue(data).errors]


def test_bom_crlf_and_quoted_commas_parse_like_plain_text() -> None:
    data = (
        "\ufeff" + HEADER + "\r\n"
        'A-1,"Tea, green",250,5,Drinks,4001,10\r\n'
        '"A-2","Quoted ""name""",0,,,,\r\n'
    ).encode()
    parsed = parse_catalogue(data)
    assert parsed.errors == []
    first, second = parsed.rows
    assert (first.sku, first.name, first.price_cents, first.low_stock_threshold) == (
        "A-1",
        "Tea, green",
        250,
        5,
    )
    assert (first.category, first.barcode, first.initial_stock) == ("Drinks", "4001", 10)
    assert (second.name, second.low_stock_threshold, second.barcode, second.initial_stock) == (
        'Quoted "name"',
        None,
        None,
        0,
    )
    assert parsed.columns == frozenset(COLUMNS)


def test_columns_may_come_in_any_order_and_optional_ones_may_be_missing() -> None:
    parsed = parse_catalogue(b"Price_Cents , sku,name\n12,B-1,Bread\n")
    assert parsed.errors == []
    assert parsed.columns == frozenset({"sku", "name", "price_cents"})
    assert parsed.rows[0].price_cents == 12


def test_a_wrong_header_names_each_bad_column_on_line_one() -> None:
    assert _errors(b"sku,title,price_cents,sku\nA,b,1,A\n") == [
        (1, "name"),
        (1, "sku"),
        (1, "title"),
    ]


def test_each_bad_cell_is_reported_with_its_line_and_field() -> None:
    data = (
        HEADER + "\n"
        "OK-1,Fine,1,,,,\n"
        ",No sku,1,,,,\n"
        "P-2,Bad price,12.50,,,,\n"
        "P-3,Neg threshold,1,-1,,,\n"
        "P-4,Spacey barcode,1,,,a b,\n"
        "P-5,Huge stock,1,,,,99999999999\n"
        "P-6,Short line,1\n"
    ).encode()
    assert _errors(data) == [
        (3, "sku"),
        (4, "price_cents"),
        (5, "low_stock_threshold"),
        (6, "barcode"),
        (7, "initial_stock"),
        (8, None),
    ]


def test_line_numbers_count_physical_lines_across_quoted_newlines_and_blank_lines() -> None:
    # a line break inside a product field is refused, but it still counts as a line
    data = (HEADER + '\n\nA,"two\nlines",1,,,,\nB,,1,,,,\n').encode()
    assert _errors(data) == [(3, "name"), (5, "name")]


def test_duplicate_skus_and_barcodes_point_at_the_later_line() -> None:
    data = (HEADER + "\nA,a,1,,,111,\nB,b,1,,,111,\nA,c,1,,,,\n").encode()
    errors = parse_catalogue(data).errors
    assert [(e.line, e.field) for e in errors] == [(3, "barcode"), (4, "sku")]
    assert "line 2" in errors[0].message and "line 2" in errors[1].message


def test_text_that_is_not_utf8_or_has_control_characters_is_refused() -> None:
    assert _errors(HEADER.encode() + b"\nA,caf\xe9,1,,,,\n") == [(2, None)]
    assert _errors((HEADER + "\nA,nul\x00here,1,,,,\n").encode()) == [(2, "name")]


def test_an_empty_file_or_a_broken_quote_is_an_error_not_an_empty_import() -> None:
    assert _errors(b"") == [(1, None)]
    assert _errors(b'sku,name,price_cents\nA,"unterminated,1\n')[0][1] is None


def test_formula_cells_are_neutralised_on_export_and_restored_on_import() -> None:
    for cell in ("=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
        assert restore(neutralise(cell)) == cell
    assert neutralise("plain") == "plain"
    assert restore("'quoted by a person") == "'quoted by a person"
    # a value that already starts with guarding apostrophes keeps them through a round trip
    for cell in ("'=already", "''@twice", "'", "''", "'plain", "=", "'=", "x'=y"):
        assert restore(neutralise(cell)) == cell, cell
    assert neutralise("'=already") == "''=already"
    data = (HEADER + "\n'=cmd,'@name,1,,'+cat,,\n").encode()
    row = parse_catalogue(data).rows[0]
    assert (row.sku, row.name, row.category) == ("=cmd", "@name", "+cat")


def test_export_cells_follow_the_import_columns() -> None:
    from datetime import UTC, datetime

    from stockline.inventory.models import Product

    now = datetime.now(UTC)
    product = Product(
        1, "=X", "Name", 5, None, True, -3, "Cat", None, now, now, -3, False, True, True, None
    )
    assert export_cells(product) == ["'=X", "Name", 5, "", "Cat", "", 0]


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rax, "), max_size=8) | st.text(max_size=8))
def test_every_cell_survives_the_round_trip_and_never_leaves_as_a_formula(cell: str) -> None:
    out = neutralise(cell)
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore(out) == cell
