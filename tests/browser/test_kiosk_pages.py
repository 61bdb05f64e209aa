"""The kiosk in a real chromium: pairing, live stock, buying exactly once, connection loss."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    KIOSK_PORTRAIT,
    admin_login,
    card,
    collect_errors,
    pair_kiosk,
    row,
)
from tests.fixtures.server import Server, Shop, make_shop, start_server

pytestmark = pytest.mark.browser


def _purchases_of(db_url: str, product_id: int) -> list[tuple[int, int]]:
    """(transaction id, quantity) of every sale line of this product."""
    with psycopg.connect(db_url) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT transaction_id, quantity FROM transaction_items WHERE product_id = %s "
                "ORDER BY id",
                (product_id,),
            )
        ]


def _purchase_ledger_rows(db_url: str, product_id: int) -> int:
    with psycopg.connect(db_url) as conn:
        row_ = conn.execute(
            "SELECT count(*) FROM inventory_ledger WHERE product_id = %s AND source = 'purchase'",
            (product_id,),
        ).fetchone()
    return int(row_[0]) if row_ else 0


def _kiosk(new_context: Callable[..., BrowserContext], shop: Shop) -> Page:
    page = new_context(viewport=KIOSK_PORTRAIT, has_touch=True).new_page()
    pair_kiosk(page, shop)
    return page


def test_kiosk_pairs_once_with_its_token_and_stays_paired(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(viewport=KIOSK_PORTRAIT).new_page()
    errors = collect_errors(page)
    page.goto(shop.server.url + "/kiosk")
    expect(page.locator("#pair-view")).to_be_visible()
    page.fill("#pair-token", "kiosk_not_a_real_token")
    page.click("#pair-form button[type=submit]")
    expect(page.locator("#pair-form [data-form-error]")).not_to_be_empty()
    expect(page.locator("#shop")).to_be_hidden()

    page.fill("#pair-token", shop.kiosk_token)
    page.keyboard.press("Enter")
    expect(page.locator("#shop")).to_be_visible()
    page.reload()
    expect(page.locator("#shop")).to_be_visible()
    expect(page.locator("#pair-view")).to_be_hidden()
    assert errors == []


def test_kiosk_buys_and_an_admin_in_another_context_sees_the_new_stock(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=12, threshold=2, price=250, name="Kiosk cola")
    admin = new_context().new_page()
    admin_login(admin, shop)
    expect(row(admin, p["id"]).locator("[data-col=stock]")).to_have_text("12")

    kiosk = _kiosk(new_context, shop)
    errors = collect_errors(kiosk)
    c = card(kiosk, p["id"])
    expect(c).to_contain_text("Kiosk cola")
    expect(c).to_contain_text("12 in stock")
    c.tap()
    card(kiosk, p["id"]).tap()
    card(kiosk, p["id"]).tap()
    line = kiosk.locator(f'#basket-lines li[data-id="{p["id"]}"]')
    expect(line.locator(".qty")).to_have_text("3")
    line.get_by_role("button", name="One less Kiosk cola").tap()
    expect(line.locator(".qty")).to_have_text("2")
    expect(kiosk.locator("#buy")).to_contain_text("5.00")
    kiosk.locator("#buy").tap()
    expect(kiosk.locator("#thanks")).to_be_visible()
    expect(kiosk.locator("#thanks-title")).to_have_text("Purchase recorded")
    expect(kiosk.locator("#thanks-text")).to_contain_text("5.00")
    expect(kiosk.locator("#thanks-text")).not_to_contain_text("paid")
    kiosk.locator("#thanks-close").tap()
    expect(kiosk.locator("#basket-empty")).to_be_visible()

    assert [q for _, q in _purchases_of(shop.db_url, p["id"])] == [2]
    # the other browser sees it without a reload
    expect(row(admin, p["id"]).locator("[data-col=stock]")).to_have_text("10", timeout=10_000)
    expect(card(kiosk, p["id"])).to_contain_text("10 in stock", timeout=10_000)
    assert errors == []


def test_double_click_on_buy_creates_exactly_one_transaction(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=20, name="Double tap")
    kiosk = _kiosk(new_context, shop)
    card(kiosk, p["id"]).click()
    kiosk.dblclick("#buy")
    expect(kiosk.locator("#thanks")).to_be_visible()
    kiosk.click("#thanks-close")
    # a frantic triple tap within one frame
    card(kiosk, p["id"]).click()
    kiosk.evaluate(
        "() => { const b = document.getElementById('buy'); b.click(); b.click(); b.click(); }"
    )
    expect(kiosk.locator("#thanks")).to_be_visible()
    assert [q for _, q in _purchases_of(shop.db_url, p["id"])] == [1, 1]
    assert _purchase_ledger_rows(shop.db_url, p["id"]) == 2


def test_a_lost_answer_queues_the_sale_and_its_resend_with_the_same_key_buys_once(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=20, name="Lost answer")
    # Playwright cannot route requests a service worker sees; this test needs the route
    kiosk = new_context(viewport=KIOSK_PORTRAIT, service_workers="block").new_page()
    pair_kiosk(kiosk, shop)
    keys: list[str] = []

    def lose_the_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        route.fetch()  # the server buys…
        route.abort("connectionreset")  # …but the answer never reaches the kiosk

    kiosk.route("**/api/purchases", lose_the_answer)
    card(kiosk, p["id"]).click()
    card(kiosk, p["id"]).click()
    kiosk.click("#buy")
    # the customer is done: the kiosk keeps the sale and sends it again until it hears back
    expect(kiosk.locator("#thanks")).to_be_visible()
    expect(kiosk.locator("#thanks-title")).to_have_text("Purchase recorded")
    expect(kiosk.locator("#thanks-offline")).to_be_visible()
    expect(kiosk.locator("#queue-status")).to_contain_text("1 sale waiting")
    assert len(_purchases_of(shop.db_url, p["id"])) == 1

    seen: list[str] = []
    kiosk.unroute_all(behavior="wait")  # a replay may be inside the handler right now
    kiosk.on(
        "request",
        lambda r: (
            seen.append(r.headers.get("idempotency-key", ""))
            if r.url.endswith("/api/purchases")
            else None
        ),
    )
    expect(kiosk.locator("#queue-status")).to_be_hidden(timeout=20_000)
    assert keys[0] and set(keys) == {keys[0]} and set(seen) == {keys[0]}
    assert [q for _, q in _purchases_of(shop.db_url, p["id"])] == [2]
    assert _purchase_ledger_rows(shop.db_url, p["id"]) == 1

    # a new basket gets a new key
    kiosk.click("#thanks-close")
    card(kiosk, p["id"]).click()
    kiosk.click("#buy")
    expect(kiosk.locator("#thanks")).to_be_visible()
    expect(kiosk.locator("#thanks-offline")).to_be_hidden()
    assert seen[-1] != keys[0]
    assert [q for _, q in _purchases_of(shop.db_url, p["id"])] == [2, 1]


def test_low_and_out_of_stock_badges_follow_other_kiosks(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=3, threshold=2, name="Scarce")
    kiosk = _kiosk(new_context, shop)
    c = card(kiosk, p["id"])
    expect(c).to_contain_text("3 in stock")

    def other_kiosk_buys(qty: int) -> None:
        with shop.kiosk() as client:
            resp = client.post(
                "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": qty}]}
            )
        assert resp.status_code == 201

    other_kiosk_buys(1)
    expect(c.locator("[data-col=stock]")).to_have_text("Only 2 left", timeout=10_000)
    other_kiosk_buys(2)
    expect(c.locator("[data-col=stock]")).to_have_text("Out of stock", timeout=10_000)
    expect(c).to_have_attribute("data-stock", "out")


def test_network_drop_shows_a_banner_and_reconnecting_clears_it(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(viewport=KIOSK_PORTRAIT).new_page()
    pair_kiosk(page, shop)
    ctx = page.context
    ctx.set_offline(True)
    expect(page.locator("#banner")).to_contain_text("No network connection")
    ctx.set_offline(False)
    expect(page.locator("#banner")).to_contain_text("restored", timeout=15_000)
    expect(page.locator("#banner")).to_be_hidden(timeout=10_000)


def test_pages_recover_after_the_server_restarts(
    fresh_db: str, new_context: Callable[..., BrowserContext]
) -> None:
    server = start_server(fresh_db)
    try:
        shop = make_shop(server)
        p = shop.create_product(stock=8, name="Restart")
        kiosk = _kiosk(new_context, shop)
        admin = new_context().new_page()
        admin_login(admin, shop)
        expect(card(kiosk, p["id"])).to_contain_text("8 in stock")

        server.stop()
        expect(kiosk.locator("#banner")).to_contain_text("Reconnecting", timeout=15_000)
        expect(admin.locator("#banner")).to_contain_text("Reconnecting", timeout=15_000)

        server = start_server(fresh_db, port=server.port)
        restarted: Server = server
        with restarted.client(shop.kiosk_token) as c:
            resp = c.post(
                "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 3}]}
            )
        assert resp.status_code == 201
        expect(card(kiosk, p["id"])).to_contain_text("5 in stock", timeout=20_000)
        expect(row(admin, p["id"]).locator("[data-col=stock]")).to_have_text("5", timeout=20_000)
        expect(kiosk.locator("#banner")).to_be_hidden(timeout=10_000)
        # and the kiosk still sells
        card(kiosk, p["id"]).click()
        kiosk.click("#buy")
        expect(kiosk.locator("#thanks")).to_be_visible()
    finally:
        server.stop()
