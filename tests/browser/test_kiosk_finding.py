"""Finding things on the kiosk, the idle reset, and the layout on both kiosk screens:
search as you type, categories, initials that differ, a barcode scanner typing keys +
Enter, an abandoned basket clearing after a countdown, and touch targets of ≥ 48 px."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import KIOSK_PORTRAIT, card, collect_errors, pair_kiosk
from tests.fixtures.server import Shop, make_shop

pytestmark = pytest.mark.browser

KIOSK_LANDSCAPE = {"width": 1366, "height": 768}


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def _kiosk(new_context: Callable[..., BrowserContext], shop: Shop, **kwargs: Any) -> Page:
    kwargs.setdefault("viewport", KIOSK_PORTRAIT)
    page = new_context(has_touch=True, **kwargs).new_page()
    pair_kiosk(page, shop)
    return page


def _shown(page: Page, ids: list[int]) -> list[int]:
    """Which of these products have a card on screen now."""
    return [i for i in ids if card(page, i).count()]


def _qty(page: Page, product_id: int) -> Any:
    return page.locator(f'#basket-lines li[data-id="{product_id}"] .qty')


def test_search_as_you_type_narrows_the_grid_by_name_sku_or_category(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    t = _tag()
    sparkling = shop.create_product(name=f"Sparkling water {t}", category="Drinks")["id"]
    still = shop.create_product(name=f"Still water {t}", category="Drinks")["id"]
    crisps = shop.create_product(name=f"Salted crisps {t}", sku=f"CRISP-{t}")["id"]
    brulee = shop.create_product(name=f"Crème brûlée {t}", category="Desserts")["id"]
    ours = [sparkling, still, crisps, brulee]
    page = _kiosk(new_context, shop)
    errors = collect_errors(page)
    search = page.locator("#search")

    search.press_sequentially(f"water {t}")
    expect(card(page, crisps)).to_have_count(0)
    assert _shown(page, ours) == [sparkling, still]
    search.fill(f"crisp-{t}")  # by SKU, any case
    expect(card(page, sparkling)).to_have_count(0)
    assert _shown(page, ours) == [crisps]
    search.fill(f"creme brulee {t}")  # accents do not matter
    expect(card(page, brulee)).to_have_count(1)
    assert _shown(page, ours) == [brulee]
    search.fill(f"desserts {t}")  # by category
    expect(card(page, brulee)).to_have_count(1)
    assert _shown(page, ours) == [brulee]
    search.fill(f"nothing like this {t}")
    expect(page.locator("#grid .empty")).to_have_text("No products match your search.")
    search.fill("")
    expect(card(page, crisps)).to_have_count(1)
    assert sorted(_shown(page, ours)) == sorted(ours)
    assert errors == []


def test_a_category_shows_only_its_products_and_all_shows_every_one(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    t = _tag()
    tea = shop.create_product(name=f"Green tea {t}", category=f"Hot {t}")["id"]
    coffee = shop.create_product(name=f"Espresso {t}", category=f"Hot {t}")["id"]
    juice = shop.create_product(name=f"Orange juice {t}", category=f"Cold {t}")["id"]
    plain = shop.create_product(name=f"Napkins {t}")["id"]
    ours = [tea, coffee, juice, plain]
    page = _kiosk(new_context, shop)

    chips = page.locator("#categories")
    expect(chips.get_by_role("button", name="All")).to_have_attribute("aria-pressed", "true")
    chips.get_by_role("button", name=f"Hot {t}").tap()
    expect(card(page, juice)).to_have_count(0)
    assert sorted(_shown(page, ours)) == sorted([tea, coffee])
    expect(chips.get_by_role("button", name=f"Hot {t}")).to_have_attribute("aria-pressed", "true")
    chips.get_by_role("button", name=f"Cold {t}").tap()
    expect(card(page, juice)).to_have_count(1)
    assert _shown(page, ours) == [juice]
    # search works inside the chosen category
    page.locator("#search").fill("espresso")
    expect(page.locator("#grid .empty")).to_be_visible()
    page.locator("#search").fill("")
    chips.get_by_role("button", name="All").tap()
    expect(card(page, plain)).to_have_count(1)
    assert sorted(_shown(page, ours)) == sorted(ours)


def test_a_scanner_adds_by_barcode_or_sku_and_names_an_unknown_code(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    t = _tag()
    code = "40" + str(uuid.uuid4().int)[:11]
    milk = shop.create_product(name=f"Scanned milk {t}", barcode=code)["id"]
    bread = shop.create_product(name=f"Scanned bread {t}", sku=f"BREAD-{t}")["id"]
    page = _kiosk(new_context, shop)
    errors = collect_errors(page)
    keyboard = page.keyboard

    # a scanner types its code and Enter, wherever the focus is
    keyboard.type(code)
    keyboard.press("Enter")
    expect(_qty(page, milk)).to_have_text("1")
    keyboard.type(code)
    keyboard.press("Enter")
    expect(_qty(page, milk)).to_have_text("2")
    keyboard.type(f"BREAD-{t}")  # no barcode: its SKU
    keyboard.press("Enter")
    expect(_qty(page, bread)).to_have_text("1")
    expect(page.locator("#scan-message")).to_be_hidden()

    keyboard.type("999000111222")
    keyboard.press("Enter")
    message = page.locator("#scan-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("Unknown code")
    expect(message).to_contain_text("999000111222")
    expect(page.locator("#basket-lines li")).to_have_count(2)

    # scanned while the search box has the focus: added, and the code is not left as a search
    page.locator("#search").fill("sca")
    page.locator("#search").focus()
    keyboard.type(code)
    keyboard.press("Enter")
    expect(_qty(page, milk)).to_have_text("3")
    expect(page.locator("#search")).to_have_value("sca")
    # a code typed by hand into the search box and Enter counts too
    page.locator("#search").fill(f"bread-{t}")
    page.locator("#search").press("Enter")
    expect(_qty(page, bread)).to_have_text("2")
    expect(page.locator("#search")).to_have_value("")
    # words that find products, and Enter: still a search, no complaint
    page.locator("#search").fill(f"scanned {t}")
    page.locator("#search").press("Enter")
    expect(page.locator("#search")).to_have_value(f"scanned {t}")
    expect(page.locator("#scan-message")).to_be_hidden()
    assert _shown(page, [milk, bread]) == [milk, bread]
    assert errors == []


def test_every_tile_gets_initials_that_differ(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    t = _tag()
    names = ["Cola", "Cola Zero", "Coffee", "Cookies", "Cocoa", "Corn"]
    ids = [shop.create_product(name=f"{n} {t}")["id"] for n in names]
    page = _kiosk(new_context, shop)
    expect(card(page, ids[0])).to_be_visible()
    all_labels = page.locator("#grid .pc-initial").all_inner_texts()
    assert len(set(x.lower() for x in all_labels)) == len(all_labels), all_labels
    assert card(page, ids[1]).locator(".pc-initial").inner_text() == "CZ"
    for i in ids:
        assert 1 <= len(card(page, i).locator(".pc-initial").inner_text()) <= 3


def test_an_untouched_basket_clears_after_a_visible_countdown(
    module_db: str, server_factory: Any, new_context: Callable[..., BrowserContext]
) -> None:
    server = server_factory(module_db, env={"STOCKLINE_KIOSK_IDLE_SECONDS": "2"})
    shop = make_shop(server)
    p = shop.create_product(stock=9, name=f"Idle pear {_tag()}")["id"]
    page = _kiosk(new_context, shop)
    assert page.locator("body").get_attribute("data-idle-seconds") == "2"

    # a touch during the countdown keeps the basket
    card(page, p).tap()
    countdown = page.locator("#idle")
    expect(countdown).to_be_visible(timeout=10_000)
    expect(page.locator("#idle-count")).to_have_text("2")
    page.locator("#idle-keep").tap()
    expect(countdown).to_be_hidden()
    expect(_qty(page, p)).to_have_text("1")

    # nobody comes back: the countdown runs out and the next customer starts fresh
    page.locator("#search").fill("idle")
    expect(countdown).to_be_visible(timeout=10_000)
    expect(page.locator("#idle-count")).to_have_text("1", timeout=5_000)
    expect(countdown).to_be_hidden(timeout=5_000)
    expect(page.locator("#basket-empty")).to_be_visible()
    expect(page.locator("#search")).to_have_value("")
    # an empty kiosk shows no countdown
    page.wait_for_timeout(3_000)
    expect(countdown).to_be_hidden()


_SMALL_TARGETS = """() => {
  const small = [];
  for (const node of document.querySelectorAll("#shop button, #shop input, #shop a")) {
    const r = node.getBoundingClientRect();
    if (!r.width || !r.height) continue;  // not on screen
    if (r.width < 48 || r.height < 48) small.push(
      (node.id || node.className || node.tagName) + " " + r.width + "x" + r.height);
  }
  return small;
}"""

_INSIDE = """(id) => {
  const node = document.querySelector(`#grid .product-card[data-id="${id}"]`);
  const card = node.getBoundingClientRect();
  const parts = ["pc-name", "pc-price", "pc-stock"].map((c) =>
    node.querySelector("." + c).getBoundingClientRect());
  return parts.every((r) => r.left >= card.left - 0.5 && r.right <= card.right + 0.5 &&
    r.top >= card.top - 0.5 && r.bottom <= card.bottom + 0.5);
}"""


@pytest.mark.parametrize(
    "viewport", [KIOSK_PORTRAIT, KIOSK_LANDSCAPE], ids=["portrait", "landscape"]
)
def test_both_kiosk_screens_keep_long_names_inside_cards_and_targets_of_48_px(
    viewport: dict[str, int], shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    t = _tag()
    long_name = (
        "Hand-made organic wildflower honey from the hills " + "Supercalifragilistic" * 5 + t
    )[:200]
    long_id = shop.create_product(stock=3, name=long_name, category=f"Pantry {t}")["id"]
    page = _kiosk(new_context, shop, viewport=viewport)
    card(page, long_id).tap()  # a basket line with its minus and plus buttons
    expect(_qty(page, long_id)).to_have_text("1")

    assert page.evaluate(_SMALL_TARGETS) == []
    assert page.evaluate(_INSIDE, long_id)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    grid = page.locator("#grid").bounding_box()
    basket = page.locator(".basket").bounding_box()
    assert grid and basket
    if viewport["width"] > viewport["height"]:
        assert basket["x"] >= grid["x"] + grid["width"] - 1  # beside the grid
    else:
        assert basket["y"] >= grid["y"] + grid["height"] - 1  # below it


_FIND = """() => {
  const F = SL.KioskFind;
  const p = (id, name, extra) => Object.assign({ id, name, sku: "S" + id }, extra || {});
  const twins = F.initials([p(1, "Cola"), p(2, "Cola"), p(3, "Cola"), p(4, "C"), p(5, "C")]);
  const odd = F.initials([p(1, "  "), p(2, "7up"), p(3, "Été glacé"), p(4, "été")]);
  const shop = [p(1, "Milk", { barcode: "4006381333931" }), p(2, "Bread", { sku: "BRD-01" })];
  return {
    twins: [...twins.values()],
    odd: [...odd.values()],
    exact: F.byCode(shop, " brd-01 ")?.id,
    barcodeFirst: F.byCode([p(1, "A", { sku: "123" }), p(2, "B", { barcode: "123" })], "123").id,
    atEnd: F.byCodeAtEnd(shop, "milk 4006381333931"),
    shortSkuIsNoCode: F.byCodeAtEnd([p(1, "X", { sku: "AB" })], "grab"),
    folded: F.matches(p(1, "Crème Brûlée", { category: "Desserts" }), "CREME dess"),
    categories: F.categories([p(1, "a", { category: "Hot" }), p(2, "b", { category: "hot" }),
      p(3, "c", { category: "Cold" }), p(4, "d")]),
  };
}"""


def test_finding_rules_hold_at_their_edges(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto(shop.server.url + "/kiosk")  # the scripts load before pairing
    out = page.evaluate(_FIND)
    # the same name three times, and one-letter names, still get different tiles
    assert len(set(x.lower() for x in out["twins"])) == 5, out["twins"]
    assert len(set(x.lower() for x in out["odd"])) == 4, out["odd"]
    assert out["exact"] == 2
    assert out["barcodeFirst"] == 2  # a barcode wins over another product's SKU
    assert out["atEnd"]["product"]["id"] == 1 and out["atEnd"]["rest"] == "milk"
    assert out["shortSkuIsNoCode"] is None
    assert out["folded"] is True
    assert out["categories"] == ["Cold", "Hot"]
