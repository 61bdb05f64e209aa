"""The admin portal without rough edges: layout at 1366, 768 and 390 px, toasts, wording,
counts, self-refreshing notifications, banners, the mail tab and the currency."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import SCREENSHOTS, admin_login, collect_errors, row
from tests.fixtures.server import Shop, make_shop, start_server

pytestmark = pytest.mark.browser

VIEWS = ["products", "notifications", "mail", "people", "settings"]


def _buy(shop: Shop, product_id: int, quantity: int) -> None:
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases",
            json={"items": [{"product_id": product_id, "quantity": quantity}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert resp.status_code == 201, resp.text


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"page scrolls sideways: {widths}"


@pytest.mark.parametrize("width", [1366, 768, 390])
def test_every_tab_and_log_out_are_reachable_without_sideways_scrolling(
    shop: Shop, new_context: Callable[..., BrowserContext], width: int
) -> None:
    shop.create_product(stock=3, threshold=5, name="A product with a rather long name indeed")
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    logout = page.locator("#logout")
    expect(logout).to_be_visible()
    box = logout.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    for name in VIEWS:
        link = page.locator(f'[data-nav="{name}"]')
        link.scroll_into_view_if_needed()
        link.click()  # Playwright clicks only what is visible and not covered
        expect(page.locator(f'section[data-view="{name}"]')).to_be_visible()
        _no_sideways_scroll(page)
    if width < 1366:  # docs/pages.md shows the narrow layouts
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator('[data-nav="products"]').click()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(2300)  # the first load's row highlight fades
        page.screenshot(path=str(SCREENSHOTS / f"admin-products-{width}.png"))
    assert not errors, errors


def test_a_toast_shows_above_an_open_dialog_and_clear_of_the_row_buttons(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=10, threshold=2, name="Toast soda")
    page = new_context().new_page()
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage").click()
    dialog = page.locator("#product-dialog")
    expect(dialog).to_be_visible()
    page.fill("#adjust-delta", "-1")
    page.fill("#adjust-reason", "dropped")
    page.click("#adjust-form button[type=submit]")
    toast = page.locator("#toasts .toast").filter(has_text="Stock adjusted by")
    expect(toast).to_be_visible()
    # above the modal's dimming backdrop, the toast's white text stays pure white
    # (hit-testing cannot tell: a modal dialog makes the rest of the page inert)
    box = toast.bounding_box()
    assert box is not None
    shot = base64.b64encode(page.screenshot(clip=box)).decode()
    brightest = page.evaluate(
        """async (src) => {
          const img = new Image();
          img.src = "data:image/png;base64," + src;
          await img.decode();
          const c = document.createElement("canvas");
          c.width = img.width;
          c.height = img.height;
          const ctx = c.getContext("2d");
          ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, c.width, c.height).data;
          let max = 0;
          for (let i = 0; i < d.length; i += 4) {
            max = Math.max(max, Math.min(d[i], d[i + 1], d[i + 2]));
          }
          return max;
        }""",
        shot,
    )
    assert brightest >= 245, brightest
    page.keyboard.press("Escape")
    # and the toasts keep clear of the table's buttons
    toast_box = toast.bounding_box()
    assert toast_box is not None
    for button in page.locator("#products-body button").all()[:20]:
        b = button.bounding_box()
        if b is None:
            continue
        overlap = not (
            b["x"] > toast_box["x"] + toast_box["width"]
            or b["x"] + b["width"] < toast_box["x"]
            or b["y"] > toast_box["y"] + toast_box["height"]
            or b["y"] + b["height"] < toast_box["y"]
        )
        assert not overlap, (b, toast_box)


def test_stock_at_zero_or_below_says_out_of_stock_as_the_kiosk_does(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    zero = shop.create_product(stock=0, threshold=2, name="Empty shelf")
    falling = shop.create_product(stock=4, threshold=2, name="Falling fizz")
    page = new_context().new_page()
    admin_login(page, shop)
    status = row(page, zero["id"]).locator("[data-col=status]")
    expect(status).to_contain_text("Out of stock")
    expect(status).not_to_contain_text("Low stock")
    _buy(shop, falling["id"], 7)  # 4 → -3, crossing the threshold: a breach toast
    expect(page.locator("#toasts")).to_contain_text("Out of stock: Falling fizz (stock -3)")
    expect(page.locator("#toasts")).not_to_contain_text("left)")
    falling_status = row(page, falling["id"]).locator("[data-col=status]")
    expect(falling_status).to_contain_text("Out of stock")
    expect(falling_status).to_contain_text("Negative")


def test_the_product_count_follows_the_search_and_the_filter(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    tag = uuid.uuid4().hex[:6]
    shop.create_product(stock=5, name=f"Counted {tag} one")
    shop.create_product(stock=5, name=f"Counted {tag} two")
    page = new_context().new_page()
    admin_login(page, shop)
    summary = page.locator("#products-summary")
    expect(summary).not_to_contain_text("shown")
    page.fill("#product-search", tag)
    expect(summary).to_contain_text(re.compile(r"^2 of \d+ products shown"))
    page.fill("#product-search", f"{tag} two")
    expect(summary).to_contain_text(re.compile(r"^1 of \d+ products shown"))
    page.fill("#product-search", "")
    expect(summary).not_to_contain_text("shown")


def test_notifications_refresh_by_themselves_and_an_empty_filter_says_no_match(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=5, threshold=1, name="Watched mail")
    with psycopg.connect(shop.db_url) as conn:
        row_ = conn.execute(
            "INSERT INTO email_notification_log"
            " (type, payload, status, message_id, product_id, next_attempt_at) VALUES"
            " ('low_stock', '{}', 'retrying', %s, %s, now() + interval '1 day') RETURNING id",
            (f"<{uuid.uuid4().hex}@test>", p["id"]),
        ).fetchone()
    assert row_ is not None
    note_id = row_[0]
    page = new_context().new_page()
    admin_login(page, shop)
    page.click('[data-nav="notifications"]')
    line = page.locator(f'#notifications-body tr[data-notification="{note_id}"]')
    expect(line).to_have_attribute("data-status", "retrying")
    # the worker gives up on it elsewhere; the page shows it without a click
    with psycopg.connect(shop.db_url) as conn:
        conn.execute(
            "UPDATE email_notification_log SET status = 'failed', next_attempt_at = NULL"
            " WHERE id = %s",
            (note_id,),
        )
    expect(line).to_have_attribute("data-status", "failed", timeout=12_000)

    page.select_option("#notif-type", "")
    page.select_option("#notif-status", "sending")
    expect(page.locator("#notifications-empty")).to_have_text(
        "No notifications match these filters."
    )
    page.select_option("#notif-status", "")
    expect(page.locator("#notifications-empty")).to_be_hidden()


def test_the_connection_banner_is_gone_from_the_login_page_once_the_server_is_back(
    fresh_db: str, new_context: Callable[..., BrowserContext]
) -> None:
    server = start_server(fresh_db)
    try:
        shop = make_shop(server)
        page = new_context().new_page()
        admin_login(page, shop)
        server.stop()
        banner = page.locator("#banner")
        expect(banner).to_contain_text("Connection to the server lost", timeout=15_000)
        # back, but the session is gone: the page returns to the login
        with psycopg.connect(fresh_db) as conn:
            conn.execute("DELETE FROM admin_sessions")
        server = start_server(fresh_db, port=server.port)
        expect(page.locator("#login-view")).to_be_visible(timeout=20_000)
        expect(banner).to_be_hidden()
    finally:
        server.stop()


def _smtp_env() -> dict[str, str]:
    # a mail server that is never reached here: configured is what counts
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9", "SMTP_TLS": "none"}


def test_the_captured_mail_tab_is_there_only_without_smtp(
    fresh_db: str, server_factory: Any, new_context: Callable[..., BrowserContext]
) -> None:
    plain = make_shop(server_factory(fresh_db))
    page = new_context().new_page()
    admin_login(page, plain)
    expect(page.locator('[data-nav="mail"]')).to_be_visible()

    with_smtp = make_shop(server_factory(fresh_db, env=_smtp_env()))
    page = new_context().new_page()
    admin_login(page, with_smtp)
    expect(page.locator('[data-nav="mail"]')).to_be_hidden()
    page.goto(with_smtp.server.url + "/admin#mail")
    expect(page.locator('section[data-view="products"]')).to_be_visible()
    expect(page.locator('section[data-view="mail"]')).to_be_hidden()


def test_prices_follow_the_currency_setting_in_the_browsers_locale(
    fresh_db: str, server_factory: Any, new_context: Callable[..., BrowserContext]
) -> None:
    shop = make_shop(server_factory(fresh_db, env={"STOCKLINE_CURRENCY": "USD"}))
    p = shop.create_product(stock=5, price=1250, name="Dollar snack")
    page = new_context(locale="en-US").new_page()
    admin_login(page, shop)
    expect(row(page, p["id"])).to_contain_text("$12.50")
    german = new_context(locale="de-DE").new_page()
    admin_login(german, shop)
    expect(row(german, p["id"])).to_contain_text(re.compile(r"12,50\s\$"))
