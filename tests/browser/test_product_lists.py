"""Products at scale in the portal: natural SKU sort, pages, selection and bulk actions."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import admin_login, collect_errors, has_route, row
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser

N = 5000


def _insert_bulk_products(db_url: str) -> list[int]:
    # straight into the table: 5,000 API calls would make this test slow, the page is
    # what is tested here (the snapshot rows come from the products trigger)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "INSERT INTO products (sku, name, price_cents) "
            "SELECT 'BULK-' || i, 'Bulk item ' || i, 100 + i FROM generate_series(1, %s) i "
            "RETURNING id",
            (N,),
        ).fetchall()
    return [r[0] for r in rows]


def _skus(page: Page) -> list[str]:
    return page.locator("#products-body [data-col=sku]").all_inner_texts()


@pytest.fixture(scope="module")
def bulk_ids(shop: Shop) -> list[int]:
    return _insert_bulk_products(shop.db_url)


def test_five_thousand_products_page_and_sort_skus_naturally(
    shop: Shop, bulk_ids: list[int], new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(locale="en-US").new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    expect(page.locator("#products-summary")).to_contain_text(f"{N:,} products")
    # one page is drawn, not 5,000 rows
    expect(page.locator("#products-body tr")).to_have_count(100)
    expect(page.locator("#pager-text")).to_contain_text(f"1\u2013100 of {N:,}")

    sku_head = page.locator("#products-table th[data-sort=sku]")
    sku_head.get_by_role("button").click()
    expect(sku_head).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#products-body tr").first.locator("[data-col=sku]")).to_have_text("BULK-1")
    # natural order: BULK-2 before BULK-10, BULK-10 before BULK-100
    assert _skus(page)[:12] == [f"BULK-{i}" for i in range(1, 13)]
    page.click("#pager-next")
    expect(page.locator("#pager-text")).to_contain_text(f"101\u2013200 of {N:,}")
    assert _skus(page)[0] == "BULK-101"

    sku_head.get_by_role("button").click()
    expect(sku_head).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#pager-text")).to_contain_text(f"1\u2013100 of {N:,}")
    assert _skus(page)[:3] == ["BULK-5000", "BULK-4999", "BULK-4998"]

    price_head = page.locator("#products-table th[data-sort=price]")
    price_head.get_by_role("button").click()
    assert _skus(page)[:2] == ["BULK-1", "BULK-2"]

    # search narrows across all pages, the pager hides when one page is enough
    page.fill("#product-search", "BULK-499")
    expect(page.locator("#products-body tr")).to_have_count(11)  # 499, 4990..4999
    expect(page.locator("#pager")).to_be_hidden()
    assert errors == []


def test_selecting_across_pages_and_selecting_all_shown(
    shop: Shop, bulk_ids: list[int], new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(locale="en-US").new_page()
    admin_login(page, shop)
    expect(page.locator("#bulk-bar")).to_be_hidden()
    page.check("#select-page")
    expect(page.locator("#bulk-count")).to_have_text("100 selected")
    page.click("#pager-next")
    expect(page.locator("#select-page")).not_to_be_checked()
    page.locator("#products-body input[data-select]").first.check()
    expect(page.locator("#bulk-count")).to_have_text("101 selected")
    expect(page.locator("#select-page")).to_have_js_property("indeterminate", True)
    page.click("#bulk-select-all")
    expect(page.locator("#bulk-count")).to_have_text(f"{N:,} selected")
    page.click("#bulk-clear")
    expect(page.locator("#bulk-bar")).to_be_hidden()


def _ledger_rows(db_url: str, ids: list[int]) -> list[tuple[int, int, str, str | None]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT product_id, delta, source, reason FROM inventory_ledger "
            "WHERE product_id = ANY(%s) ORDER BY product_id, id",
            (ids,),
        ).fetchall()


@pytest.mark.skipif(not has_route("/api/products/bulk"), reason="no bulk endpoint in this build")
def test_bulk_adjust_threshold_and_deactivate_selected_products(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    made = [shop.create_product(stock=5, name=f"Crate {i}") for i in range(3)]
    ids = [p["id"] for p in made]
    page = new_context(locale="en-US").new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.fill("#product-search", "Crate ")
    expect(page.locator("#products-body tr")).to_have_count(3)
    for pid in ids[:2]:
        row(page, pid).locator("input[data-select]").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")

    page.click("[data-bulk=adjust]")
    page.fill("#bulk-delta", "0")
    page.fill("#bulk-reason", "delivery")
    page.click("#bulk-form button[type=submit]")
    expect(page.locator("#bulk-form [data-form-error]")).to_contain_text("other than 0")
    page.fill("#bulk-delta", "7")
    page.click("#bulk-form button[type=submit]")
    expect(page.locator("#bulk-dialog")).to_be_hidden()
    for pid in ids[:2]:
        expect(row(page, pid).locator("[data-col=stock]")).to_have_text("12")
    expect(row(page, ids[2]).locator("[data-col=stock]")).to_have_text("5")
    # one ledger row per product, each with the reason
    adjustments = [r for r in _ledger_rows(shop.db_url, ids) if r[2] == "manual_adjustment"]
    assert adjustments == [
        (ids[0], 7, "manual_adjustment", "delivery"),
        (ids[1], 7, "manual_adjustment", "delivery"),
    ]
    expect(page.locator("#bulk-bar")).to_be_hidden()

    row(page, ids[1]).locator("input[data-select]").check()
    row(page, ids[2]).locator("input[data-select]").check()
    page.click("[data-bulk=threshold]")
    page.fill("#bulk-threshold", "20")
    page.click("#bulk-form button[type=submit]")
    expect(row(page, ids[1]).locator("[data-col=threshold]")).to_have_text("20")
    expect(row(page, ids[2]).locator("[data-col=status]")).to_contain_text("Low stock")
    expect(row(page, ids[0]).locator("[data-col=threshold]")).to_have_text("—")

    row(page, ids[0]).locator("input[data-select]").check()
    page.click("[data-bulk=deactivate]")
    page.click("#bulk-form button[type=submit]")
    expect(row(page, ids[0]).locator("[data-col=status]")).to_contain_text("Inactive")
    with psycopg.connect(shop.db_url) as conn:
        active = dict(
            conn.execute("SELECT id, active FROM products WHERE id = ANY(%s)", (ids,)).fetchall()
        )
    assert active == {ids[0]: False, ids[1]: True, ids[2]: True}
    assert errors == []
