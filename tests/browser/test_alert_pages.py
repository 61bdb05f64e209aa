"""SPEC §7.4 in the portal: snoozes on the product, the digest settings and webhooks
(secrets write-only), suppressed notifications, and the mail's product link."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import admin_login, collect_errors, row, wait_until
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser


def test_a_product_is_snoozed_until_restocked_and_lifted_in_its_dialog(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=5, threshold=2, name="Snooze me")
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage Snooze me").click()
    dialog = page.locator("#product-dialog")
    expect(dialog.locator("#snooze-state")).to_contain_text("Not snoozed")
    expect(dialog.locator("#snooze-lift")).to_be_hidden()
    dialog.locator("#snooze-restocked").check()
    dialog.locator("#snooze-form button[type=submit]").click()
    expect(dialog.locator("#snooze-state")).to_contain_text("until restocked")
    expect(row(page, p["id"]).locator("[data-col=status]")).to_contain_text("Snoozed")
    with shop.kiosk() as c:
        assert c.get(f"/api/inventory/{p['id']}").json()["snooze"]["until_restocked"] is True

    # a breach now is logged as suppressed and listed as such
    with shop.kiosk() as c:
        c.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 3}]})
    dialog.locator("#snooze-lift").click()
    expect(dialog.locator("#snooze-state")).to_contain_text("Not snoozed")
    with shop.kiosk() as c:
        assert c.get(f"/api/inventory/{p['id']}").json()["snooze"] is None
    page.keyboard.press("Escape")
    page.goto(shop.server.url + "/admin#notifications")
    page.select_option("#notif-status", "suppressed")
    expect(page.locator("#notifications-body tr[data-status=suppressed]").first).to_be_visible()
    assert errors == []


def test_a_snooze_until_a_local_time_is_sent_with_its_zone(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=5, threshold=2, name="Until Friday")
    page = new_context(timezone_id="Europe/Berlin").new_page()
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage Until Friday").click()
    dialog = page.locator("#product-dialog")
    dialog.locator("#snooze-restocked").uncheck()
    dialog.locator("#snooze-until").fill("2031-07-04T18:00")
    dialog.locator("#snooze-form button[type=submit]").click()
    expect(dialog.locator("#snooze-state")).to_contain_text("Snoozed until")
    with shop.kiosk() as c:
        snooze = c.get(f"/api/inventory/{p['id']}").json()["snooze"]
    assert snooze["until"].startswith("2031-07-04T16:00:00")  # 18:00 CEST is 16:00 UTC
    # neither a time nor "until restocked": refused on the page, nothing sent
    dialog.locator("#snooze-lift").click()
    expect(dialog.locator("#snooze-lift")).to_be_hidden()
    dialog.locator("#snooze-until").fill("")
    dialog.locator("#snooze-form button[type=submit]").click()
    expect(dialog.locator("#snooze-form [data-form-error]")).to_contain_text("until restocked")


def test_digest_settings_are_saved_and_a_bad_zone_is_refused(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.goto(shop.server.url + "/admin#settings")
    page.locator("#digest-enabled").check()
    page.fill("#digest-times", "08:00, 17:30")
    page.fill("#digest-timezone", "Europe/Atlantis")
    page.click("#digest-form button[type=submit]")
    expect(page.locator("#digest-form [data-form-error]")).to_contain_text("IANA")
    expect(page.locator("#digest-timezone")).to_have_attribute("aria-invalid", "true")
    page.fill("#digest-timezone", "Europe/Berlin")
    page.click("#digest-form button[type=submit]")
    expect(page.locator("#digest-next")).to_contain_text("Next digest")
    with shop.admin() as c:
        digest = c.get("/api/admin/config").json()["notification_digest"]
    assert (digest["enabled"], digest["times"], digest["timezone"]) == (
        True,
        ["08:00", "17:30"],
        "Europe/Berlin",
    )
    page.locator("#digest-enabled").uncheck()
    page.click("#digest-form button[type=submit]")
    expect(page.locator("#digest-next")).to_contain_text("Off")
    assert errors == []


def test_webhook_secrets_are_write_only_in_the_portal(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    secret = "portal-secret-7c1e"
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.goto(shop.server.url + "/admin#settings")
    page.click("#webhook-add")
    item = page.locator("#webhooks-list li").last
    item.locator("input[name=url]").fill("https://user:pw@hooks.example.com/x")
    item.locator("input[name=secret]").fill(secret)
    page.click("#webhooks-form button[type=submit]")
    expect(item.locator(".field-error")).to_contain_text("credentials")
    item.locator("input[name=url]").fill("https://hooks.example.com/services/T0/B0/x")
    page.click("#webhooks-form button[type=submit]")
    saved = page.locator("#webhooks-list li")
    expect(saved).to_have_count(1)
    expect(saved.locator("input[name=secret]")).to_have_value("")
    expect(saved.locator("input[name=secret]")).to_have_attribute(
        "placeholder", "stored (leave empty to keep)"
    )
    page.reload()
    page.goto(shop.server.url + "/admin#settings")
    expect(page.locator("#webhooks-list li")).to_have_count(1)
    assert secret not in page.content()
    # saving again without typing the secret keeps it
    page.click("#webhooks-form button[type=submit]")
    expect(page.locator("#webhooks-list li input[name=secret]")).to_have_value("")
    with psycopg.connect(shop.db_url) as conn:
        row_ = conn.execute(
            "SELECT value FROM system_config WHERE key = 'notification_webhooks'"
        ).fetchone()
    assert row_ is not None and row_[0][0]["secret"] == secret
    page.locator("#webhooks-list li").get_by_role("button", name="Remove webhook").click()
    page.click("#webhooks-form button[type=submit]")
    wait_until(
        lambda: shop.admin().get("/api/admin/config").json()["notification_webhooks"] == [],
        what="the webhook removed",
    )
    assert errors == []


def test_the_mails_product_link_opens_that_product(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=5, threshold=2, name="Linked from a mail")
    page = new_context().new_page()
    admin_login(page, shop)
    page.goto(shop.server.url + f"/admin#product-{p['id']}")
    page.reload()
    expect(page.locator("#product-dialog")).to_be_visible()
    expect(page.locator("#pd-title")).to_have_text("Linked from a mail")
