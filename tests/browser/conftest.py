"""Playwright on Debian's chromium (no downloaded browsers), driving the real pages."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fixtures.server import Shop

CHROMIUM = os.environ.get("STOCKLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The committed screenshots are refreshed only on request
# (STOCKLINE_UPDATE_SCREENSHOTS=1); an ordinary run writes them to a scratch folder.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("STOCKLINE_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "stockline-screenshots"
)
DESKTOP = {"width": 1440, "height": 900}
KIOSK_PORTRAIT = {"width": 1080, "height": 1920}

pytestmark = pytest.mark.browser


@cache
def app_paths() -> frozenset[str]:
    """The API paths this build serves (its OpenAPI document, no server needed)."""
    from stockline.app import create_app
    from stockline.config import Settings

    return frozenset(create_app(Settings()).openapi()["paths"])


def has_route(path: str) -> bool:
    return path in app_paths()


needs_events = pytest.mark.skipif(
    not has_route("/api/inventory/events"), reason="the SSE endpoint is not in this build yet"
)
needs_notifications = pytest.mark.skipif(
    not (has_route("/api/admin/notifications") and has_route("/api/admin/mail")),
    reason="the notifications API is not in this build yet",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def factory(**kwargs: Any) -> BrowserContext:
        kwargs.setdefault("viewport", DESKTOP)
        ctx = browser.new_context(**kwargs)
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        return ctx

    yield factory
    for ctx in made:
        ctx.close()


def collect_errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions; a test asserts none happened."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    return errors


def admin_login(page: Page, shop: Shop) -> None:
    page.goto(shop.server.url + "/admin")
    page.fill("#login-email", shop.admin_email)
    page.fill("#login-password", shop.admin_password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#products-summary")).not_to_be_empty()
    wait_live(page)


def pair_kiosk(page: Page, shop: Shop) -> None:
    page.goto(shop.server.url + "/kiosk")
    page.fill("#pair-token", shop.kiosk_token)
    page.click("#pair-form button[type=submit]")
    expect(page.locator("#shop")).to_be_visible()
    wait_live(page)


def wait_live(page: Page) -> None:
    """The page has loaded its products and follows the stream (or polls without one)."""
    expect(page.locator("#live-status")).to_have_attribute(
        "data-state", re.compile("^(live|polling)$"), timeout=15_000
    )


def row(page: Page, product_id: int) -> Any:
    return page.locator(f'#products-body tr[data-id="{product_id}"]')


def card(page: Page, product_id: int) -> Any:
    return page.locator(f'#grid .product-card[data-id="{product_id}"]')


def wait_until(check: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
