"""A count sheet in chromium: scanner keys + Enter, a sale in the middle, commit, abandon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import admin_login, collect_errors, has_route, row
from tests.fixtures.server import Shop

MINUS = "\u2212"  # the page writes differences with a real minus sign

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not has_route("/api/stocktakes"), reason="no stocktakes in this build"),
]


def _ledger(db_url: str, product_id: int) -> list[tuple[int, str]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT delta, source FROM inventory_ledger WHERE product_id = %s ORDER BY id",
            (product_id,),
        ).fetchall()


def _stock(db_url: str, product_id: int) -> int:
    with psycopg.connect(db_url) as conn:
        found = conn.execute(
            "SELECT current_stock FROM inventory_snapshot WHERE product_id = %s", (product_id,)
        ).fetchone()
    assert found is not None
    return int(found[0])


def _scan(page: Page, code: str) -> None:
    # a scanner is a keyboard: it types the code and presses Enter
    page.locator("#scan-code").press_sequentially(code)
    page.keyboard.press("Enter")


def _start_count_of(page: Page, products: list[dict[str, Any]], note: str) -> None:
    for p in products:
        row(page, p["id"]).locator("input[data-select]").check()
    page.click("#bulk-count-stock")  # from the bulk bar: the selection is the scope
    expect(page.locator("#stocktake-scope-selected")).to_be_checked()
    page.fill("#stocktake-note", note)
    page.click("#stocktake-form button[type=submit]")
    expect(page.locator("#stocktake-sheet")).to_be_visible()
    expect(page.locator("#scan-code")).to_be_focused()


def line(page: Page, product_id: int) -> Any:
    return page.locator(f'#sheet-body tr[data-line="{product_id}"]')


def test_count_with_a_scanner_while_a_kiosk_sells_keeps_the_sale(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    cola = shop.create_product(stock=10, name="Count cola", barcode="4006381333900")
    tea = shop.create_product(stock=5, name="Count tea")
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.fill("#product-search", "Count ")
    _start_count_of(page, [cola, tea], "shelf 1")
    expect(page.locator("#sheet-progress")).to_have_text("0 of 2 counted")

    for _ in range(9):  # nine cans on the shelf, each scanned
        _scan(page, "4006381333900")
    expect(line(page, cola["id"]).locator("input")).to_have_value("9")
    expect(line(page, cola["id"]).locator("[data-col=at-count]")).to_contain_text("10")
    expect(line(page, cola["id"]).locator("[data-col=delta]")).to_have_text(MINUS + "1")

    # a sale in the middle of the count: stock now moves, stock at count stays
    with shop.kiosk() as c:
        bought = c.post(
            "/api/purchases", json={"items": [{"product_id": cola["id"], "quantity": 2}]}
        )
    assert bought.status_code == 201
    expect(line(page, cola["id"]).locator("[data-col=now]")).to_have_text("8")
    at_count = line(page, cola["id"]).locator("[data-col=at-count]")
    expect(at_count).to_contain_text(f"({MINUS}2 since)")

    # by SKU, typing the number: the code focuses the line, Enter goes back to scanning
    page.uncheck("#scan-each")
    page.focus("#scan-code")
    _scan(page, tea["sku"].lower())
    expect(line(page, tea["id"]).locator("input")).to_be_focused()
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    expect(page.locator("#scan-code")).to_be_focused()
    expect(line(page, tea["id"]).locator("[data-col=delta]")).to_have_text("0")
    expect(page.locator("#sheet-progress")).to_have_text("2 of 2 counted")

    _scan(page, "NO-SUCH-CODE")
    expect(page.locator("#scan-error")).to_contain_text("NO-SUCH-CODE")

    page.click("#sheet-commit")
    page.click("#confirm-ok")
    expect(page.locator("#sheet-status")).to_contain_text("committed")
    expect(page.locator("#scan-form")).to_be_hidden()
    # counted 9 against 10 at count time: -1; the 2 sold later are kept → 7
    assert _ledger(shop.db_url, cola["id"])[-2:] == [(-2, "purchase"), (-1, "reconciliation")]
    assert _stock(shop.db_url, cola["id"]) == 7
    assert _ledger(shop.db_url, tea["id"]) == [(5, "system")]  # counted as it was: no row
    assert errors == []


def test_abandoning_a_count_books_nothing(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    juice = shop.create_product(stock=4, name="Abandon juice")
    page = new_context().new_page()
    admin_login(page, shop)
    page.fill("#product-search", "Abandon juice")
    _start_count_of(page, [juice], "aborted")
    _scan(page, juice["sku"])
    expect(line(page, juice["id"]).locator("[data-col=delta]")).to_have_text(MINUS + "3")
    page.click("#sheet-abandon")
    page.click("#confirm-ok")
    expect(page.locator("#sheet-status")).to_contain_text("abandoned")
    assert _ledger(shop.db_url, juice["id"]) == [(4, "system")]
    page.click("#sheet-back")
    listed = page.locator("#stocktakes-body tr", has_text="aborted")
    expect(listed).to_contain_text("abandoned")
    expect(listed).to_contain_text("1 / 1")
