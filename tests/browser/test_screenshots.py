"""Screenshots of the real pages for docs/pages.md, taken on a shop stocked like the demo."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from stockline.demo import SAMPLE_PRODUCTS
from tests.browser.conftest import (
    DESKTOP,
    KIOSK_PORTRAIT,
    SCREENSHOTS,
    admin_login,
    collect_errors,
    has_route,
    pair_kiosk,
    row,
)
from tests.fixtures.server import Shop, make_shop, start_server

KIOSK_LANDSCAPE = {"width": 1366, "height": 768}

pytestmark = pytest.mark.browser


_CATEGORY = {
    "COLA-033": "Drinks",
    "WATER-05": "Drinks",
    "COFFEE-C": "Drinks",
    "CHOC-BAR": "Snacks",
    "CRISPS-S": "Snacks",
    "GUM-MINT": "Snacks",
    "SANDW-HC": "Food",
    "APPLE-01": "Food",
}


def _stock_like_the_demo(shop: Shop) -> dict[str, int]:
    ids: dict[str, int] = {}
    with shop.admin() as c:
        c.put("/api/admin/config", json={"notification_recipients": ["ops@demo-shop.example.com"]})
    for sku, name, price, threshold, stock in SAMPLE_PRODUCTS:
        p = shop.create_product(
            sku=sku,
            name=name,
            price=price,
            threshold=threshold,
            stock=stock,
            category=_CATEGORY.get(sku),
        )
        ids[sku] = p["id"]
    with shop.kiosk() as c:
        for sku, qty in [("SANDW-HC", 4), ("CHOC-BAR", 13), ("COLA-033", 3), ("APPLE-01", 2)]:
            resp = c.post(
                "/api/purchases", json={"items": [{"product_id": ids[sku], "quantity": qty}]}
            )
            assert resp.status_code == 201
    with shop.admin() as c:
        c.post(
            f"/api/inventory/{ids['WATER-05']}/adjustments",
            json={"delta": 12, "reason": "delivery"},
        )
    return ids


def test_pages_render_cleanly_for_the_screenshots(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ids = _stock_like_the_demo(shop)

    admin = new_context(viewport=DESKTOP).new_page()
    errors = collect_errors(admin)
    admin_login(admin, shop)
    expect(row(admin, ids["CHOC-BAR"]).locator("[data-col=status]")).to_contain_text("Negative")
    admin.wait_for_timeout(2300)  # let the row highlight of the first load fade
    admin.screenshot(path=str(SCREENSHOTS / "admin-products.png"))

    row(admin, ids["SANDW-HC"]).get_by_role("button", name="Manage").click()
    expect(admin.locator("#ledger-body tr")).to_have_count(2)
    admin.screenshot(path=str(SCREENSHOTS / "admin-product.png"))
    admin.keyboard.press("Escape")

    if has_route("/api/admin/notifications"):
        admin.click("[data-nav=notifications]")
        # two low-stock breaches and the chocolate bar going negative (SPEC §7.4)
        expect(admin.locator("#notifications-body tr[data-status=sent]")).to_have_count(
            3, timeout=15_000
        )
        expect(admin.locator("#stats")).to_contain_text("worker leader")
        admin.screenshot(path=str(SCREENSHOTS / "admin-notifications.png"))
        admin.click("[data-nav=mail]")
        expect(admin.locator("#mail-list details")).to_have_count(3)
        admin.screenshot(path=str(SCREENSHOTS / "admin-mail.png"))

    admin.click("[data-nav=settings]")
    expect(admin.locator("#smtp-status")).not_to_be_empty()
    admin.screenshot(path=str(SCREENSHOTS / "admin-settings.png"))

    assert errors == []


def test_kiosk_screens_render_cleanly_for_the_screenshots(
    fresh_db: str, new_context: Callable[..., BrowserContext]
) -> None:
    """Portrait and landscape, then offline (the server killed) with sales waiting, and the
    sale refused on replay as staff see it in the portal."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = start_server(fresh_db)
    try:
        shop = make_shop(server)
        ids = _stock_like_the_demo(shop)

        def tile(page: Page, sku: str) -> Locator:
            return page.locator(f'#grid .product-card[data-id="{ids[sku]}"]')

        kiosk = new_context(viewport=KIOSK_PORTRAIT, has_touch=True).new_page()
        errors = collect_errors(kiosk)
        pair_kiosk(kiosk, shop)
        for sku in ("COLA-033", "COLA-033", "APPLE-01"):
            tile(kiosk, sku).tap()
        expect(kiosk.locator("#basket-lines li")).to_have_count(2)
        kiosk.wait_for_timeout(400)  # the tap feedback and the Buy button's colour settle
        kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-portrait.png"))

        wide = new_context(viewport=KIOSK_LANDSCAPE, has_touch=True).new_page()
        errors += collect_errors(wide)
        pair_kiosk(wide, shop)
        wide.locator("#categories").get_by_role("button", name="Drinks").tap()
        expect(tile(wide, "APPLE-01")).to_have_count(0)
        tile(wide, "WATER-05").tap()
        wide.wait_for_timeout(400)
        wide.screenshot(path=str(SCREENSHOTS / "kiosk-landscape.png"))
        wide.close()

        kiosk.locator("#basket-clear").tap()
        expect(kiosk.locator("body")).to_have_attribute("data-offline-ready", "true")
        server.kill()
        expect(kiosk.locator("#live-status")).to_have_attribute(
            "data-state", "reconnecting", timeout=15_000
        )
        for basket in (["SANDW-HC", "COLA-033"], ["CRISPS-S"]):
            for sku in basket:
                tile(kiosk, sku).tap()
            kiosk.locator("#buy").tap()
            expect(kiosk.locator("#thanks-offline")).to_be_visible()
            kiosk.locator("#thanks-close").tap()
        tile(kiosk, "CHOC-BAR").tap()
        expect(kiosk.locator("#queue-status")).to_have_text("offline — 2 sales waiting")
        kiosk.evaluate("SL.banner('')")  # the banner says the same as the header badge
        kiosk.wait_for_timeout(400)
        kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-offline.png"))

        # the sandwich is taken off sale while the server is down: its sale is refused
        with psycopg.connect(fresh_db) as conn:
            conn.execute("UPDATE products SET active = false WHERE id = %s", (ids["SANDW-HC"],))
        server = start_server(fresh_db, port=server.port)
        shop.server = server
        expect(kiosk.locator("#queue-status")).to_be_hidden(timeout=30_000)
        admin = new_context(viewport=DESKTOP).new_page()
        admin_login(admin, shop)
        admin.click("[data-nav=refused]")
        expect(admin.locator("#refused-body tr")).to_have_count(1)
        admin.screenshot(path=str(SCREENSHOTS / "admin-refused.png"))
        assert [e for e in errors if e.startswith("pageerror")] == []
    finally:
        server.stop()
