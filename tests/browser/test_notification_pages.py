"""Notifications, their attempts and retry, and captured mail, in the admin portal."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import admin_login, collect_errors, needs_notifications
from tests.fixtures.server import Shop, free_port, make_shop

pytestmark = [pytest.mark.browser, needs_notifications]


class _ScriptedSmtp:
    """Real SMTP on loopback; each DATA takes its reply from `replies`, then accepts."""

    def __init__(self) -> None:
        self.replies: deque[str] = deque()
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        text = envelope.content.decode("utf-8", "replace")
        match = re.search(r"^Subject: (.*)$", text, re.MULTILINE)
        self.subjects.append(match.group(1) if match else "")
        return self.replies.popleft() if self.replies else "250 2.0.0 OK: queued"


@pytest.fixture
def smtp() -> Iterator[tuple[_ScriptedSmtp, int]]:
    handler = _ScriptedSmtp()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _breach(shop: Shop, name: str) -> dict[str, Any]:
    p = shop.create_product(stock=5, threshold=3, name=name)
    with shop.kiosk() as c:
        resp = c.post("/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 2}]})
    assert resp.status_code == 201
    return p


def test_a_breach_shows_its_attempts_and_retry_requeues_a_failed_one(
    fresh_db: str,
    server_factory: Callable[..., Any],
    smtp: tuple[_ScriptedSmtp, int],
    new_context: Callable[..., BrowserContext],
) -> None:
    handler, port = smtp
    handler.replies.append("550 5.7.1 Message rejected by policy")
    server = server_factory(
        fresh_db,
        env={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_TLS": "none",
            "SMTP_FROM": "stockline@shop.example.com",
            "ADMIN_NOTIFICATION_EMAILS": "ops@shop.example.com",
        },
    )
    shop = make_shop(server)
    _breach(shop, "Rejected crisps")

    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.click("[data-nav=notifications]")
    first = page.locator("#notifications-body tr").first
    expect(first).to_have_attribute("data-status", "failed", timeout=15_000)
    expect(first).to_contain_text("Rejected crisps")
    expect(first).to_contain_text("550")
    expect(page.locator("#stats")).to_contain_text("failed")
    expect(page.locator("#stats")).to_contain_text("worker leader")

    first.get_by_role("button", name=re.compile("Details")).click()
    dialog = page.locator("#notification-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#nd-attempts tr")).to_have_count(1)
    expect(dialog.locator("#nd-attempts")).to_contain_text("550")
    dialog.locator("#nd-retry").click()
    expect(page.locator("#toasts")).to_contain_text("queued again")
    page.keyboard.press("Escape")
    expect(first).to_have_attribute("data-status", "sent", timeout=15_000)
    expect(first.locator("td").nth(4)).to_have_text("2")
    assert len(handler.subjects) == 2

    page.click("[data-nav=settings]")
    expect(page.locator("#smtp-status")).to_contain_text("127.0.0.1")
    expect(page.locator("#smtp-status")).to_contain_text(str(port))
    assert errors == []


def test_captured_mail_shows_the_low_stock_message(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    with shop.admin() as c:
        resp = c.put(
            "/api/admin/config", json={"notification_recipients": ["ops@shop.example.com"]}
        )
        assert resp.status_code == 200
    _breach(shop, "Captured cola")
    page = new_context().new_page()
    admin_login(page, shop)
    page.click("[data-nav=mail]")
    mail = page.locator("#mail-list details", has_text="Captured cola")
    for _ in range(30):
        if mail.count():
            break
        page.click("#mail-refresh")
        page.wait_for_timeout(500)
    expect(mail.first).to_be_visible()
    expect(mail.first).to_contain_text("ops@shop.example.com")
