"""Insight in the portal: the stock chart, the "to reorder" view, who moved stock and the
running balance in a product's history."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import admin_login, collect_errors, has_route, row
from tests.fixtures.server import Shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not has_route("/api/inventory/{product_id}/insight"), reason="no insight in this build"
    ),
]


def _history(db_url: str, product_id: int, moves: list[tuple[int, str, int]]) -> None:
    """(days ago, source, delta) rows, dated in the past as a shop's history would be."""
    with psycopg.connect(db_url) as conn:
        for days_ago, source, delta in moves:
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source, reason, created_at)"
                " VALUES (%s, %s, %s, 'history', now() - make_interval(days => %s))",
                (product_id, delta, source, days_ago),
            )


def test_stock_chart_reads_without_colour_and_shows_cover_and_reorder(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(threshold=90, name="Chart beans")
    _history(shop.db_url, p["id"], [(10, "system", 100), (3, "purchase", -4), (1, "purchase", -6)])
    page = new_context(locale="en-US").new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage Chart beans").click()
    chart = page.locator("#insight-chart svg[role=img]")
    expect(chart).to_be_visible()
    # the label says it in words: from where to where, how many sold, the threshold
    expect(chart).to_have_attribute("aria-label", re.compile(r"to 90; 10 sold.*threshold 90"))
    # 10 sold in 28 days at a 7-day lead time: ceil(2.5) + 90 - 90 = 3
    expect(page.locator("#insight-sold")).to_have_text("0.4")
    expect(page.locator("#insight-cover")).to_have_text("252 days")
    expect(page.locator("#insight-reorder")).to_have_text("3")
    # marks differ by shape and pattern, each named in the legend and on the chart
    expect(chart.locator(".chart-sold rect[fill='url(#hatch)']")).to_have_count(2)
    expect(chart.locator(".chart-threshold line[stroke-dasharray]")).to_have_count(1)
    expect(chart.locator(".chart-threshold")).to_contain_text("threshold 90")
    expect(chart.locator(".chart-legend")).to_contain_text("stock at end of day")
    expect(chart.locator(".chart-legend")).to_contain_text("units sold that day")
    expect(chart.locator(".chart-stock circle")).to_have_count(28)
    expect(page.locator("#insight-table tr")).to_have_count(28)

    page.select_option("#insight-days", "7")
    expect(page.locator("#insight-table tr")).to_have_count(7)
    expect(page.locator("#insight-chart .chart-stock circle")).to_have_count(7)
    assert errors == []


def test_reorder_view_lists_what_runs_out_first_on_top(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    soon = shop.create_product(threshold=5, name="Runs out soon")
    later = shop.create_product(threshold=10, name="Runs out later")
    idle = shop.create_product(stock=1, threshold=5, name="Never sold")
    _history(shop.db_url, soon["id"], [(20, "system", 30), (2, "purchase", -28)])  # 2 left
    # 12 left: cover 12 days, reorder ceil(1 * 7) + 10 - 12 = 5
    _history(shop.db_url, later["id"], [(20, "system", 40), (2, "purchase", -28)])
    page = new_context(locale="en-US").new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.click("[data-nav=reorder]")
    names = page.locator("#reorder-body td.name")
    expect(names.first).to_be_visible()
    listed = [
        n for n in names.all_inner_texts() if n in {"Runs out soon", "Runs out later", "Never sold"}
    ]
    assert listed == ["Runs out soon", "Runs out later", "Never sold"]
    idle_row = page.locator(f'#reorder-body tr[data-id="{idle["id"]}"]')
    expect(idle_row.locator("[data-col=cover]")).to_have_text("no sales")
    expect(idle_row.locator("[data-col=reorder]")).to_have_text("4")  # 0 + 5 - 1
    head = page.locator("#reorder-table th[data-sort=cover]")
    expect(head).to_have_attribute("aria-sort", "ascending")

    page.locator("#reorder-table th[data-sort=name] button").click()
    listed = [
        n for n in names.all_inner_texts() if n in {"Runs out soon", "Runs out later", "Never sold"}
    ]
    assert listed == ["Never sold", "Runs out later", "Runs out soon"]
    # a row opens the product with its chart
    page.locator(f'#reorder-body tr[data-id="{soon["id"]}"]').get_by_role("button").click()
    expect(page.locator("#pd-title")).to_have_text("Runs out soon")
    expect(page.locator("#insight-chart svg")).to_be_visible()
    assert errors == []


def _ledger_names_who() -> bool:
    from stockline.app import create_app
    from stockline.config import Settings

    schemas = create_app(Settings()).openapi()["components"]["schemas"]
    ledger = [v.get("properties", {}) for k, v in schemas.items() if k.startswith("Ledger")]
    return any("actor" in props and "balance_after" in props for props in ledger)


@pytest.mark.skipif(not _ledger_names_who(), reason="ledger entries carry no actor in this build")
def test_history_shows_who_moved_stock_and_the_running_balance(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    p = shop.create_product(stock=10, name="Who moved it")
    with shop.kiosk() as c:
        items = [{"product_id": p["id"], "quantity": 3}]
        assert c.post("/api/purchases", json={"items": items}).status_code == 201
    page = new_context().new_page()
    admin_login(page, shop)
    row(page, p["id"]).get_by_role("button", name="Manage Who moved it").click()
    page.fill("#adjust-delta", "5")
    page.fill("#adjust-reason", "delivery")
    page.click("#adjust-form button[type=submit]")
    entries = page.locator("#ledger-body tr")
    expect(entries).to_have_count(3)
    # newest first: the adjustment by this admin, the sale by the kiosk, the initial stock
    expect(entries.nth(0).locator("[data-col=who]")).to_have_text(shop.admin_email)
    expect(entries.nth(0).locator("[data-col=balance]")).to_have_text("12")
    expect(entries.nth(1).locator("[data-col=who]")).to_contain_text("kiosk")
    expect(entries.nth(1).locator("[data-col=balance]")).to_have_text("7")
    expect(entries.nth(2).locator("[data-col=balance]")).to_have_text("10")
