"""Screenshots of the manager's pages for docs/pages.md: import, stocktake, insight,
to reorder, people. Each part needs its endpoint; parts a build lacks are left out."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from stockline.demo import SAMPLE_PRODUCTS
from tests.browser.conftest import (
    DESKTOP,
    SCREENSHOTS,
    admin_login,
    collect_errors,
    has_route,
    row,
)
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser


def _shop_with_history(shop: Shop) -> dict[str, int]:
    ids: dict[str, int] = {}
    for n, (sku, name, price, threshold, _stock) in enumerate(SAMPLE_PRODUCTS):
        p = shop.create_product(sku=sku, name=name, price=price, threshold=threshold)
        ids[sku] = p["id"]
        # four weeks of a shop's life: a delivery every week, sales most days
        moves = [(27, "system", 40 + 4 * n)]
        moves += [(d, "purchase", -(1 + (d * (n + 3)) % 4)) for d in range(26, 0, -1) if d % 6]
        moves += [(d, "manual_adjustment", 12) for d in (20, 13, 6)]
        with psycopg.connect(shop.db_url) as conn:
            for days_ago, source, delta in moves:
                conn.execute(
                    "INSERT INTO inventory_ledger (product_id, delta, source, reason, created_at)"
                    " VALUES (%s, %s, %s, %s, now() - make_interval(days => %s))",
                    (p["id"], delta, source, "delivery" if delta > 0 else None, days_ago),
                )
    return ids


def test_manager_pages_render_cleanly_for_the_screenshots(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ids = _shop_with_history(shop)
    page = new_context(viewport=DESKTOP, locale="en-GB").new_page()
    errors = collect_errors(page)
    admin_login(page, shop)

    if has_route("/api/products/import"):
        page.click("#import-open")
        csv = (
            "sku,name,price_cents,low_stock_threshold,category,barcode,initial_stock\n"
            "COLA-033,Cola 0.33 l,180,6,Drinks,,0\n"
            "TEA-GRN,Green tea,220,4,Drinks,4006381333931,24\n"
            "MUESLI,Muesli bar,abc,3,Snacks,,10\n"
            "COLA-033,Cola again,180,6,Drinks,,0\n"
        )
        page.set_input_files(
            "#import-file",
            files=[{"name": "products.csv", "mimeType": "text/csv", "buffer": csv.encode()}],
        )
        expect(page.locator("#import-errors tr").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "admin-import.png"))
        page.click("#import-dialog .dialog-head [data-close]")

    if has_route("/api/inventory/{product_id}/insight"):
        row(page, ids["COLA-033"]).get_by_role("button", name="Manage").click()
        expect(page.locator("#insight-chart svg")).to_be_visible()
        page.locator("#insight").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "admin-insight.png"))
        page.click("#product-dialog .dialog-head [data-close]")
        page.click("[data-nav=reorder]")
        expect(page.locator("#reorder-body tr").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "admin-reorder.png"))

    if has_route("/api/stocktakes"):
        page.click("[data-nav=products]")
        for sku in ("COLA-033", "WATER-05", "APPLE-01", "CHOC-BAR"):
            row(page, ids[sku]).locator("input[data-select]").check()
        expect(page.locator("#bulk-bar")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "admin-selection.png"))
        page.click("[data-nav=stocktake]")
        page.check("#stocktake-scope-selected")
        page.fill("#stocktake-note", "drinks fridge")
        page.click("#stocktake-form button[type=submit]")
        expect(page.locator("#scan-code")).to_be_focused()  # the sheet is up: scans land
        for sku, times in (("COLA-033", 3), ("WATER-05", 2)):
            for _ in range(times):
                page.locator("#scan-code").press_sequentially(sku)
                page.keyboard.press("Enter")
        expect(page.locator("#sheet-progress")).to_have_text("2 of 4 counted")
        expect(page.locator(f'#sheet-body tr[data-line="{ids["WATER-05"]}"] input')).to_have_value(
            "2"
        )
        page.wait_for_timeout(1600)  # the row highlight fades
        page.screenshot(path=str(SCREENSHOTS / "admin-stocktake.png"))

    if has_route("/api/admin/kiosks"):
        page.click("[data-nav=people]")
        page.fill("#kiosk-name", "Front door")
        page.click("#kiosk-form button[type=submit]")
        expect(page.locator("#token-qr svg")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "admin-people.png"))
    assert errors == []
