"""The kiosk keeps selling while its server is dead (killed, not `set_offline`): the
service worker serves the page, sales queue in IndexedDB with their Idempotency-Keys, and
each is bought exactly once when the server is back, also across a reload mid-replay and
with two tabs replaying one queue. A sale refused on replay reaches staff (SPEC §7.5)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, Response, expect

from tests.browser.conftest import (
    KIOSK_PORTRAIT,
    admin_login,
    card,
    collect_errors,
    pair_kiosk,
    wait_live,
    wait_until,
)
from tests.e2e.fault_support import run_verify
from tests.fixtures.server import Server, Shop, make_shop, start_server

pytestmark = pytest.mark.browser

Lines = list[tuple[int, int]]


class Restartable:
    """One shop whose server can be killed and started again on its port and database."""

    def __init__(self, db_url: str) -> None:
        self.server = start_server(db_url)
        self.shop = make_shop(self.server)

    def kill(self) -> None:
        self.server.kill()

    def start(self) -> Server:
        self.server = start_server(self.shop.db_url, port=self.server.port)
        self.shop.server = self.server
        return self.server


@pytest.fixture
def shop_to_kill(fresh_db: str) -> Iterator[Restartable]:
    r = Restartable(fresh_db)
    try:
        yield r
    finally:
        r.server.stop()


def _kiosk_tab(ctx: BrowserContext, shop: Shop, *, pair: bool = True) -> Page:
    page = ctx.new_page()
    if pair:
        pair_kiosk(page, shop)
    else:
        page.goto(shop.server.url + "/kiosk")
        expect(page.locator("#shop")).to_be_visible()
        wait_live(page)  # its stream is open, so losing the server reads "reconnecting"
    # the service worker has the shell cached: a reload without the server works
    expect(page.locator("body")).to_have_attribute("data-offline-ready", "true", timeout=15_000)
    return page


def _buy(page: Page, basket: list[tuple[int, int]]) -> None:
    for product_id, qty in basket:
        for _ in range(qty):
            card(page, product_id).tap()
    page.locator("#buy").tap()
    expect(page.locator("#thanks")).to_be_visible()
    page.locator("#thanks-close").tap()
    expect(page.locator("#basket-empty")).to_be_visible()


def _transactions(db_url: str) -> list[Lines]:
    """Each transaction's (product, quantity) lines, in the order they were bought."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT t.id, i.product_id, i.quantity FROM transactions t"
            " JOIN transaction_items i ON i.transaction_id = t.id ORDER BY t.id, i.line_no"
        ).fetchall()
    out: dict[int, Lines] = {}
    for tx, product_id, qty in rows:
        out.setdefault(tx, []).append((product_id, qty))
    return list(out.values())


def _went_offline(page: Page) -> None:
    expect(page.locator("#live-status")).to_have_attribute(
        "data-state", "reconnecting", timeout=15_000
    )


def test_three_baskets_bought_while_the_server_is_dead_survive_a_reload_and_land_once(
    shop_to_kill: Restartable, new_context: Callable[..., BrowserContext]
) -> None:
    shop = shop_to_kill.shop
    cola = shop.create_product(stock=20, name="Offline cola", price=150)["id"]
    chips = shop.create_product(stock=20, name="Offline chips", price=200)["id"]
    page = _kiosk_tab(new_context(viewport=KIOSK_PORTRAIT, has_touch=True), shop)
    errors = collect_errors(page)
    expect(card(page, cola)).to_contain_text("20 in stock")

    shop_to_kill.kill()
    _went_offline(page)
    baskets = [[(cola, 2)], [(chips, 1)], [(cola, 1), (chips, 3)]]
    for basket in baskets:
        _buy(page, basket)
    status = page.locator("#queue-status")
    expect(status).to_have_text("offline — 3 sales waiting")
    expect(page.locator("#stock-age")).to_contain_text("Stock as of")

    page.reload()  # the server is still dead: the service worker answers
    expect(page.locator("#shop")).to_be_visible()
    _went_offline(page)  # this page never reached its server: not "connecting" for good
    expect(status).to_have_text("offline — 3 sales waiting")
    expect(card(page, cola)).to_contain_text("20 in stock")  # the last known stock…
    expect(page.locator("#stock-age")).to_contain_text("Stock as of")  # …with its age
    assert _transactions(shop.db_url) == []

    shop_to_kill.start()
    expect(status).to_be_hidden(timeout=30_000)
    assert _transactions(shop.db_url) == [[(cola, 2)], [(chips, 1)], [(cola, 1), (chips, 3)]]
    # the stock shown comes back from the server's snapshot and events
    expect(card(page, cola)).to_contain_text("17 in stock", timeout=20_000)
    expect(card(page, chips)).to_contain_text("16 in stock", timeout=20_000)
    expect(page.locator("#stock-age")).to_be_hidden()
    verify = run_verify(shop.db_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # console errors of the failed requests while dead are expected; page errors are not
    assert [e for e in errors if e.startswith("pageerror")] == []


def test_a_queued_sale_of_a_product_deactivated_meanwhile_is_kept_for_staff(
    shop_to_kill: Restartable, new_context: Callable[..., BrowserContext]
) -> None:
    shop = shop_to_kill.shop
    gone = shop.create_product(stock=10, name="Discontinued tea", price=300)["id"]
    kept = shop.create_product(stock=10, name="Still sold water", price=100)["id"]
    page = _kiosk_tab(new_context(viewport=KIOSK_PORTRAIT, has_touch=True), shop)

    shop_to_kill.kill()
    _went_offline(page)
    _buy(page, [(gone, 2)])
    _buy(page, [(kept, 1)])
    expect(page.locator("#queue-status")).to_have_text("offline — 2 sales waiting")
    with psycopg.connect(shop.db_url) as conn:  # staff took it off sale while the server was down
        conn.execute("UPDATE products SET active = false WHERE id = %s", (gone,))

    shop_to_kill.start()
    expect(page.locator("#queue-status")).to_be_hidden(timeout=30_000)
    assert _transactions(shop.db_url) == [[(kept, 1)]]
    with shop.admin() as c:
        refused = c.get("/api/admin/rejected-sales").json()
    assert len(refused) == 1
    assert refused[0]["items"] == [
        {"product_id": gone, "quantity": 2, "name": "Discontinued tea", "unit_price_cents": 300}
    ]
    assert refused[0]["total_cents"] == 600
    assert refused[0]["refused_status"] == 422
    assert "not for sale" in refused[0]["refused_detail"]

    # staff see it in the portal, without looking for it, and settle it there
    admin = new_context().new_page()
    admin_login(admin, shop)
    expect(admin.locator("#refused-count")).to_have_text("1", timeout=10_000)
    admin.click("[data-nav=refused]")
    line = admin.locator(f'#refused-body tr[data-id="{refused[0]["id"]}"]')
    expect(line).to_contain_text("2 \u00d7 Discontinued tea")  # "2 times …"
    expect(line).to_contain_text("6.00")
    expect(line).to_contain_text("not for sale")
    line.get_by_role("button", name="Mark resolved").click()
    expect(admin.locator("#refused-empty")).to_be_visible()
    expect(admin.locator("#refused-count")).to_have_text("")
    admin.check("#refused-all")
    expect(line).to_contain_text("resolved")


def test_two_tabs_replaying_one_queue_buy_each_sale_exactly_once(
    shop_to_kill: Restartable, new_context: Callable[..., BrowserContext]
) -> None:
    shop = shop_to_kill.shop
    a = shop.create_product(stock=50, name="Tab apple")["id"]
    b = shop.create_product(stock=50, name="Tab banana")["id"]
    ctx = new_context(viewport=KIOSK_PORTRAIT, has_touch=True)
    first = _kiosk_tab(ctx, shop)
    second = _kiosk_tab(ctx, shop, pair=False)  # same device, same cookie and queue
    answers: list[tuple[str, int, str | None]] = []

    def record(resp: Response) -> None:
        if resp.url.endswith("/api/purchases") and resp.request.method == "POST":
            key = resp.request.headers.get("idempotency-key", "")
            answers.append((key, resp.status, resp.headers.get("idempotent-replayed")))

    for tab in (first, second):
        tab.on("response", record)

    shop_to_kill.kill()
    _went_offline(first)
    _went_offline(second)
    _buy(first, [(a, 1)])
    _buy(second, [(b, 2)])
    _buy(first, [(a, 3)])
    _buy(second, [(a, 1), (b, 1)])
    for tab in (first, second):
        expect(tab.locator("#queue-status")).to_have_text("offline — 4 sales waiting")

    shop_to_kill.start()
    for tab in (first, second):
        expect(tab.locator("#queue-status")).to_be_hidden(timeout=30_000)
    assert sorted(map(sorted, _transactions(shop.db_url))) == sorted(
        map(sorted, [[(a, 1)], [(b, 2)], [(a, 3)], [(a, 1), (b, 1)]])
    )
    # one tab held the lock: every key was sent once, none needed the server's dedup
    created = [key for key, status, _ in answers if status == 201]
    assert len(created) == 4 and len(set(created)) == 4
    assert [x for x in answers if x[2] == "true"] == []
    verify = run_verify(shop.db_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _waiting_on_a_lock(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_reload_in_the_middle_of_the_replay_buys_each_sale_once(
    shop_to_kill: Restartable, new_context: Callable[..., BrowserContext]
) -> None:
    shop = shop_to_kill.shop
    melon = shop.create_product(stock=30, name="Reload melon")["id"]
    kiwi = shop.create_product(stock=30, name="Reload kiwi")["id"]
    page = _kiosk_tab(new_context(viewport=KIOSK_PORTRAIT, has_touch=True), shop)
    shop_to_kill.kill()
    _went_offline(page)
    for basket in ([(melon, 1)], [(kiwi, 2)], [(melon, 3)]):
        _buy(page, basket)
    expect(page.locator("#queue-status")).to_have_text("offline — 3 sales waiting")

    # Hold the kiwi row: the replayed second sale reaches the server and waits there…
    with psycopg.connect(shop.db_url) as holder:
        holder.execute("SELECT 1 FROM products WHERE id = %s FOR UPDATE", (kiwi,))
        shop_to_kill.start()
        wait_until(
            lambda: len(_transactions(shop.db_url)) == 1 and _waiting_on_a_lock(shop.db_url),
            timeout=30,
            what="the first sale in and the second waiting in the server",
        )
        # …while the page reloads, so the kiosk never hears the answer
        page.reload()
        expect(page.locator("#shop")).to_be_visible()
        # the reloaded page sends the second sale again: it waits behind the first one
        wait_until(
            lambda: _waiting_on_a_lock(shop.db_url) >= 2,
            timeout=45,
            what="the second sale sent again after the reload",
        )
    # the holder's transaction ended: the first request commits, the resend gets its answer
    expect(page.locator("#queue-status")).to_be_hidden(timeout=30_000)
    assert _transactions(shop.db_url) == [[(melon, 1)], [(kiwi, 2)], [(melon, 3)]]
    verify = run_verify(shop.db_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _fill_queue(page: Page, count: int) -> Any:
    """Put `count` sales straight into the kiosk's IndexedDB queue, as if bought offline."""
    return page.evaluate(
        """async (count) => {
            let last = null;
            for (let i = 0; i < count; i += 1) {
              last = await SL.KioskStore.enqueue({ key: "fill-" + i, items: [], shown: [],
                total_cents: 0, sold_at: new Date().toISOString() });
            }
            return last;
        }""",
        count,
    )


def test_a_full_queue_refuses_new_sales_and_says_why(
    shop_to_kill: Restartable, new_context: Callable[..., BrowserContext]
) -> None:
    shop = shop_to_kill.shop
    p = shop.create_product(stock=5, name="Full queue gum")["id"]
    page = _kiosk_tab(new_context(viewport=KIOSK_PORTRAIT, has_touch=True), shop)
    shop_to_kill.kill()
    _went_offline(page)
    limit = page.evaluate("SL.KioskStore.MAX_QUEUED")
    assert limit == 500
    assert _fill_queue(page, limit) == {"ok": True, "count": limit}
    expect(page.locator("#queue-status")).to_contain_text(f"offline — {limit} sales waiting")
    expect(page.locator("#queue-status")).to_contain_text("full")
    card(page, p).tap()
    page.locator("#buy").tap()
    expect(page.locator("#buy-error")).to_contain_text("cannot take more")
    expect(page.locator("#thanks")).to_be_hidden()
    # the basket stays for when the connection returns
    expect(page.locator(f'#basket-lines li[data-id="{p}"] .qty')).to_have_text("1")
