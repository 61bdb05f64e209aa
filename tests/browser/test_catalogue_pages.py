"""Catalogue in and out through the portal: CSV preview (dry run), apply, errors, export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import admin_login, collect_errors, has_route
from tests.fixtures.server import Shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not has_route("/api/products/import"), reason="no catalogue import in this build"
    ),
]

HEADER = "sku,name,price_cents,low_stock_threshold,category,barcode,initial_stock"


def _catalogue(db_url: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT sku, name, price_cents, low_stock_threshold, category, barcode, stock_quantity "
            "FROM products"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _choose(page: Page, text: str, name: str = "products.csv") -> None:
    page.set_input_files(
        "#import-file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def test_import_previews_counts_then_applies_in_one_go(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    keep = shop.create_product(stock=3, name="Keep me", price=150)
    change = shop.create_product(stock=4, name="Old name", price=200)
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.click("#import-open")
    csv = "\r\n".join(
        [
            HEADER,
            f"{keep['sku']},Keep me,150,,,,0",
            f'{change["sku"]},"New name, with comma",250,5,Drinks,,0',
            "IMP-NEW-1,Imported tea,300,2,Tea,4006381333931,12",
        ]
    )
    before = _catalogue(shop.db_url)
    _choose(page, csv)
    expect(page.locator("#import-status")).to_contain_text("Preview only")
    expect(page.locator("#import-created")).to_have_text("1")
    expect(page.locator("#import-updated")).to_have_text("1")
    expect(page.locator("#import-unchanged")).to_have_text("1")
    assert _catalogue(shop.db_url) == before  # the preview wrote nothing

    page.click("#import-apply")
    expect(page.locator("#import-dialog")).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("1 created, 1 updated, 1 unchanged")
    after = _catalogue(shop.db_url)
    assert after["IMP-NEW-1"] == ("Imported tea", 300, 2, "Tea", "4006381333931", 12)
    assert after[change["sku"]][:4] == ("New name, with comma", 250, 5, "Drinks")
    assert after[change["sku"]][5] == 4  # initial stock applies only to new products
    new_row = page.locator("#products-body tr", has_text="IMP-NEW-1")
    expect(new_row.locator("[data-col=stock]")).to_have_text("12")
    expect(new_row.locator("[data-col=category]")).to_have_text("Tea")
    assert errors == []


def test_import_with_bad_lines_lists_each_problem_and_cannot_be_applied(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    admin_login(page, shop)
    page.click("#import-open")
    csv = "\n".join(
        [
            HEADER,
            "IMP-OK,Fine,100,,,,0",
            "IMP-BAD,Bad price,abc,,,,0",
            "IMP-OK,Twice,100,,,,0",
        ]
    )
    before = _catalogue(shop.db_url)
    _choose(page, csv)
    expect(page.locator("#import-status")).to_contain_text("nothing will be written")
    problems = page.locator("#import-errors tr")
    expect(problems.first).to_be_visible()
    texts = problems.all_inner_texts()
    assert any(t.startswith("3") and "price_cents" in t for t in texts), texts
    assert any(t.startswith("4") and "sku" in t for t in texts), texts
    expect(page.locator("#import-apply")).to_be_disabled()
    expect(page.locator("#import-counts")).to_be_hidden()
    assert _catalogue(shop.db_url) == before

    # a wrong header is one problem for the whole file
    _choose(page, "sku;name;price\nA;B;1\n")
    expect(page.locator("#import-errors tr").first).to_contain_text("1")
    expect(page.locator("#import-apply")).to_be_disabled()
    assert _catalogue(shop.db_url) == before


def test_export_link_downloads_the_catalogue_as_csv(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=2, name="=SUM(A1)")  # would be a formula in a spreadsheet
    page = new_context().new_page()
    admin_login(page, shop)
    with page.expect_download() as info:
        page.click("#export-csv")
    text = open(info.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115 - temp file
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert any(line.startswith(p["sku"] + ",'=SUM(A1)") for line in lines), lines
