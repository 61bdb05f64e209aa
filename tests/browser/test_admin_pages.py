"""The admin portal in a real chromium against a real `stockline serve`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import (
    admin_login,
    collect_errors,
    needs_events,
    row,
)
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser


def _ledger(db_url: str, product_id: int) -> list[tuple[int, str, str | None]]:
    with psycopg.connect(db_url) as conn:
        return [
            (r[0], r[1], r[2])
            for r in conn.execute(
                "SELECT delta, source, reason FROM inventory_ledger WHERE product_id = %s "
                "ORDER BY id",
                (product_id,),
            )
        ]


def _config(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT key, value FROM system_config")}


def test_admin_signs_in_and_sees_products_with_flags(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    low = shop.create_product(stock=2, threshold=5, name="Low soda")
    page = new_context().new_page()
    errors = collect_errors(page)
    page.goto(shop.server.url + "/admin")
    page.fill("#login-email", shop.admin_email)
    page.fill("#login-password", "wrong password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-form [data-form-error]")).not_to_be_empty()
    expect(page.locator("#app")).to_be_hidden()

    admin_login(page, shop)
    r = row(page, low["id"])
    expect(r.locator("[data-col=stock]")).to_have_text("2")
    expect(r.locator("[data-col=status]")).to_contain_text("Low stock")
    # the session cookie is HttpOnly: the page's script cannot read it
    assert "stockline_session" not in page.evaluate("document.cookie")
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    assert errors == []


def test_adjust_and_reconcile_forms_update_row_and_history(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=10, threshold=3, name="Adjust me")
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage Adjust me").click()
    dialog = page.locator("#product-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#ledger-body tr")).to_have_count(1)  # the initial stock

    # a bad input shows the problem and changes nothing
    page.fill("#adjust-delta", "0")
    page.fill("#adjust-reason", "nothing")
    page.click("#adjust-form button[type=submit]")
    expect(page.locator("#adjust-form [data-form-error]")).to_contain_text("other than 0")
    assert len(_ledger(shop.db_url, p["id"])) == 1

    page.fill("#adjust-delta", "-8")
    page.fill("#adjust-reason", "broken in transport")
    page.click("#adjust-form button[type=submit]")
    expect(row(page, p["id"]).locator("[data-col=stock]")).to_have_text("2")
    expect(row(page, p["id"]).locator("[data-col=status]")).to_contain_text("Low stock")
    expect(page.locator("#pd-stock")).to_have_text("2")
    expect(dialog.locator("#ledger-body tr")).to_have_count(2)
    expect(dialog.locator("#ledger-body tr").first).to_contain_text("broken in transport")

    page.fill("#reconcile-counted", "7")
    page.fill("#reconcile-reason", "shelf count")
    page.click("#reconcile-form button[type=submit]")
    expect(row(page, p["id"]).locator("[data-col=stock]")).to_have_text("7")
    expect(row(page, p["id"]).locator("[data-col=status]")).to_contain_text("In stock")
    expect(dialog.locator("#ledger-body tr")).to_have_count(3)
    expect(dialog.locator("#ledger-body tr").first).to_contain_text("+5")
    expect(dialog.locator("#ledger-body tr").first).to_contain_text("Reconciliation")
    assert _ledger(shop.db_url, p["id"])[1:] == [
        (-8, "manual_adjustment", "broken in transport"),
        (5, "reconciliation", "shelf count"),
    ]
    # the CSV link downloads this product's ledger with the session cookie
    with page.expect_download() as info:
        page.click("#pd-csv")
    csv_text = open(info.value.path()).read()  # noqa: SIM115 - test reads a temp file
    assert "shelf count" in csv_text and "broken in transport" in csv_text
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert errors == []


def test_ledger_history_pages_back_to_the_oldest_entry(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=1, name="Many moves")
    with shop.admin() as c:
        for i in range(24):
            resp = c.post(
                f"/api/inventory/{p['id']}/adjustments", json={"delta": 1, "reason": f"move {i}"}
            )
            assert resp.status_code == 201
    page = new_context().new_page()
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage").click()
    body = page.locator("#ledger-body tr")
    expect(body).to_have_count(20)
    expect(body.first).to_contain_text("move 23")
    page.click("#ledger-more")
    expect(body).to_have_count(25)
    expect(body.last).to_contain_text("Initial stock")
    expect(page.locator("#ledger-more")).to_be_hidden()


def test_create_edit_filter_and_tracking_toggle(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    sku = f"NEW-{int(time.time() * 1000) % 10**9}"
    page.click("#new-product")
    page.fill("#create-sku", sku)
    page.fill("#create-name", "Fresh juice")
    page.fill("#create-price", "abc")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#create-form [data-form-error]")).to_contain_text("price")
    page.fill("#create-price", "3.20")
    page.fill("#create-threshold", "4")
    page.fill("#create-stock", "6")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#create-dialog")).to_be_hidden()
    new_row = page.locator("#products-body tr", has_text=sku)
    expect(new_row.locator("[data-col=stock]")).to_have_text("6")
    expect(new_row).to_contain_text("3.20")

    # a duplicate SKU is refused with the API's message
    page.click("#new-product")
    page.fill("#create-sku", sku)
    page.fill("#create-name", "Duplicate")
    page.fill("#create-price", "1")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#create-form [data-form-error]")).not_to_be_empty()
    page.keyboard.press("Escape")

    # edit: raising the threshold above the stock flags it low
    new_row.get_by_role("button", name="Manage").click()
    page.fill("#edit-threshold", "8")
    page.fill("#edit-price", "3.50")
    page.click("#edit-form button[type=submit]")
    expect(new_row.locator("[data-col=status]")).to_contain_text("Low stock")
    expect(new_row).to_contain_text("3.50")
    page.keyboard.press("Escape")

    # filter: only low products remain
    page.click("[data-filter=low]")
    expect(new_row).to_be_visible()
    for r in page.locator("#products-body tr").all():
        expect(r.locator("[data-col=status]")).to_contain_text("Low stock")
    page.click("[data-filter=negative]")
    expect(new_row).to_be_hidden()
    page.click("[data-filter=all]")
    page.fill("#product-search", sku)
    expect(page.locator("#products-body tr")).to_have_count(1)

    # tracking toggle from the table, by keyboard
    switch = new_row.get_by_role("switch")
    switch.focus()
    page.keyboard.press("Space")
    expect(new_row.get_by_role("switch")).not_to_be_checked()
    product_id = int(new_row.get_attribute("data-id") or 0)
    with shop.admin() as c:
        assert c.get(f"/api/inventory/{product_id}").json()["tracking_enabled"] is False
    assert errors == []


def test_settings_invalid_recipient_is_shown_and_nothing_saved_then_valid_list_saved(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    with shop.admin() as c:
        assert (
            c.put("/api/admin/config", json={"notification_recipients": ["a@shop.example.com"]})
        ).status_code == 200
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.click("[data-nav=settings]")
    inputs = page.locator("#recipients-list input")
    expect(inputs).to_have_count(1)
    expect(inputs.first).to_have_value("a@shop.example.com")
    page.click("#recipient-add")
    inputs.nth(1).fill("not-an-address")
    page.click("#recipient-add")
    inputs.nth(2).fill("b@shop.example.com")
    page.click("#recipients-form button[type=submit]")
    bad = page.locator("#recipients-list li").nth(1)
    expect(bad.locator("input")).to_have_attribute("aria-invalid", "true")
    expect(bad.locator(".field-error")).to_contain_text("not-an-address")
    expect(page.locator("#recipients-form [data-form-error]")).to_contain_text("Nothing was saved")
    expect(page.locator("#recipients-list li").nth(2).locator("input")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    assert _config(shop.db_url)["notification_recipients"] == ["a@shop.example.com"]

    inputs.nth(1).fill("c@shop.example.com")
    page.click("#recipients-form button[type=submit]")
    expect(page.locator("#toasts")).to_contain_text("Recipients saved")
    assert _config(shop.db_url)["notification_recipients"] == [
        "a@shop.example.com",
        "c@shop.example.com",
        "b@shop.example.com",
    ]
    expect(page.locator("#recipients-form [data-form-error]")).to_be_hidden()

    # the SMTP status is read-only and never shows a password
    expect(page.locator("#smtp-status")).to_contain_text("Not configured")
    assert "password" not in page.locator("#smtp-status").inner_text().lower()

    # global tracking switch
    page.locator("#global-tracking").click()
    expect(page.locator("#tracking-off-banner")).to_be_visible()
    wait_cfg = _config(shop.db_url)["inventory_tracking_enabled"]
    assert wait_cfg is False
    page.locator("#global-tracking").click()
    expect(page.locator("#tracking-off-banner")).to_be_hidden()
    assert _config(shop.db_url)["inventory_tracking_enabled"] is True
    assert errors == []


def test_logout_returns_to_sign_in_and_the_session_is_gone(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    ctx = new_context()
    page = ctx.new_page()
    admin_login(page, shop)
    page.click("#logout")
    expect(page.locator("#login-view")).to_be_visible()
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()
    assert not any(c["name"] == "stockline_session" for c in ctx.cookies())


@needs_events
def test_purchase_by_another_client_appears_in_the_table_within_a_second(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=9, threshold=2, name="Live cola")
    page = new_context().new_page()
    admin_login(page, shop)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    stock = row(page, p["id"]).locator("[data-col=stock]")
    expect(stock).to_have_text("9")
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 7}]})
    assert resp.status_code == 201
    start = time.monotonic()
    expect(stock).to_have_text("2", timeout=1000)
    assert time.monotonic() - start <= 1.0
    expect(row(page, p["id"])).to_have_class(re.compile("flash"))
    expect(row(page, p["id"]).locator("[data-col=status]")).to_contain_text("Low stock")


def test_adjusting_stock_works_with_the_keyboard_alone(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=4, name="Keyboard tea")
    page = new_context().new_page()
    admin_login(page, shop)
    page.focus("#product-search")
    page.keyboard.type("Keyboard tea")
    manage = row(page, p["id"]).get_by_role("button", name="Manage Keyboard tea")
    manage.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#adjust-delta")).to_be_focused()
    page.keyboard.type("6")
    page.keyboard.press("Tab")
    page.keyboard.type("delivery")
    page.keyboard.press("Enter")
    expect(row(page, p["id"]).locator("[data-col=stock]")).to_have_text("10")
    page.keyboard.press("Escape")
    expect(page.locator("#product-dialog")).to_be_hidden()
