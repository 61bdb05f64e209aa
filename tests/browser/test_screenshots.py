"""Screenshots of the real pages for docs/pages.md, taken on a shop stocked like the demo."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

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
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser


def _stock_like_the_demo(shop: Shop) -> dict[str, int]:
    ids: dict[str, int] = {}
    with shop.admin() as c:
        c.put("/api/admin/config", json={"notification_recipients": ["ops@demo-shop.example.com"]})
    for sku, name, price, threshold, stock in SAMPLE_PRODUCTS:
        p = shop.create_product(sku=sku, name=name, price=price, threshold=threshold, stock=stock)
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
        expect(admin.locator("#notifications-body tr[data-status=sent]")).to_have_count(
            2, timeout=15_000
        )
        expect(admin.locator("#stats")).to_contain_text("worker leader")
        admin.screenshot(path=str(SCREENSHOTS / "admin-notifications.png"))
        admin.click("[data-nav=mail]")
        expect(admin.locator("#mail-list details")).to_have_count(2)
        admin.screenshot(path=str(SCREENSHOTS / "admin-mail.png"))

    admin.click("[data-nav=settings]")
    expect(admin.locator("#smtp-status")).not_to_be_empty()
    admin.screenshot(path=str(SCREENSHOTS / "admin-settings.png"))

    kiosk = new_context(viewport=KIOSK_PORTRAIT, has_touch=True).new_page()
    errors += collect_errors(kiosk)
    pair_kiosk(kiosk, shop)
    for sku in ("COLA-033", "COLA-033", "APPLE-01"):
        kiosk.locator(f'#grid .product-card[data-id="{ids[sku]}"]').tap()
    expect(kiosk.locator("#basket-lines li")).to_have_count(2)
    kiosk.wait_for_timeout(400)  # the tap feedback and the Pay button's colour settle
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-portrait.png"))

    desk = new_context(viewport=DESKTOP).new_page()
    pair_kiosk(desk, shop)
    desk.locator(f'#grid .product-card[data-id="{ids["WATER-05"]}"]').click()
    desk.mouse.move(0, 0)
    desk.wait_for_timeout(400)
    desk.screenshot(path=str(SCREENSHOTS / "kiosk-desktop.png"))
    assert errors == []
