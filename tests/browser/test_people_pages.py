"""People in the portal: admins and kiosks, a kiosk token shown once with a pairing link."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import admin_login, collect_errors, has_route, wait_live
from tests.fixtures.server import Shop

pytestmark = pytest.mark.browser

needs_people = pytest.mark.skipif(
    not (has_route("/api/admin/admins") and has_route("/api/admin/kiosks")),
    reason="the people API is not in this build yet",
)


def _people_page(shop: Shop, new_context: Callable[..., BrowserContext]) -> tuple[Page, list[str]]:
    page = new_context().new_page()
    errors = collect_errors(page)
    admin_login(page, shop)
    page.click("[data-nav=people]")
    return page, errors


def test_a_pairing_link_pairs_the_kiosk_and_leaves_no_token_in_the_address(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    errors = collect_errors(page)
    page.goto(f"{shop.server.url}/kiosk#pair={shop.kiosk_token}")
    expect(page.locator("#shop")).to_be_visible()
    wait_live(page)
    assert "#" not in page.url and shop.kiosk_token not in page.url
    # a wrong token in a link: the pairing form asks for one
    other = new_context().new_page()
    other.goto(f"{shop.server.url}/kiosk#pair=not-a-token")
    expect(other.locator("#pair-view")).to_be_visible()
    assert "not-a-token" not in other.url
    assert errors == []


@needs_people
def test_admin_adds_disables_and_resets_an_admin(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page, errors = _people_page(shop, new_context)
    expect(page.locator("#admins-body tr", has_text=shop.admin_email)).to_contain_text("(you)")
    # you cannot disable yourself: there is no button for it
    me = page.locator("#admins-body tr", has_text=shop.admin_email)
    expect(me.get_by_role("button", name=re.compile("^Disable"))).to_have_count(0)

    page.fill("#admin-email", "second@shop.example.com")
    page.fill("#admin-password", "short")
    page.click("#admin-form button[type=submit]")
    expect(page.locator("#admin-form [data-form-error]")).to_contain_text("8 characters")
    page.fill("#admin-password", "a long enough password")
    page.click("#admin-form button[type=submit]")
    second = page.locator("#admins-body tr", has_text="second@shop.example.com")
    expect(second.locator("[data-col=state]")).to_have_text("Active")
    # the same email again: the API's 409 is shown, nothing added
    page.fill("#admin-email", "second@shop.example.com")
    page.fill("#admin-password", "another long password")
    page.click("#admin-form button[type=submit]")
    expect(page.locator("#admin-form [data-form-error]")).not_to_be_empty()
    expect(page.locator("#admins-body tr", has_text="second@shop.example.com")).to_have_count(1)

    # the new admin can sign in; a reset password ends that and the new one works
    def login(password: str) -> int:
        with httpx.Client(base_url=shop.server.url) as c:
            body = {"email": "second@shop.example.com", "password": password}
            return c.post("/api/auth/login", json=body).status_code

    assert login("a long enough password") == 200
    second.get_by_role("button", name="Reset password").click()
    page.fill("#reset-password", "the new password!")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#reset-dialog")).to_be_hidden()
    assert login("a long enough password") == 401
    assert login("the new password!") == 200

    second.get_by_role("button", name="Disable second@shop.example.com").click()
    page.click("#confirm-ok")
    expect(second.locator("[data-col=state]")).to_have_text("Disabled")
    assert login("the new password!") == 401
    second.get_by_role("button", name="Enable second@shop.example.com").click()
    expect(second.locator("[data-col=state]")).to_have_text("Active")
    assert login("the new password!") == 200
    assert errors == []


@needs_people
def test_new_kiosk_token_is_shown_once_with_a_qr_code_and_revoking_locks_it_out(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page, errors = _people_page(shop, new_context)
    page.fill("#kiosk-name", "Front door")
    page.click("#kiosk-form button[type=submit]")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    token = page.input_value("#token-value")
    assert len(token) >= 20
    link = page.get_attribute("#token-link", "href") or ""
    assert link == f"{shop.server.url}/kiosk#pair={token}"
    qr = dialog.locator("#token-qr svg[role=img]")
    expect(qr).to_have_attribute("aria-label", re.compile("Front door"))
    assert (qr.locator("path").get_attribute("d") or "").count("h1v1h-1z") > 200
    page.click("#token-dialog button.btn-primary[data-close]")
    # closed (the close event runs as a task of its own): the token is gone from the
    # page, and the list never shows it
    expect(dialog).to_be_hidden()
    expect(page.locator("#token-value")).to_have_value("")
    assert token not in page.content()
    row = page.locator("#kiosks-body tr", has_text="Front door")
    expect(row.locator("[data-col=state]")).to_have_text("Active")

    # the link pairs a kiosk browser
    kiosk = new_context().new_page()
    kiosk.goto(link)
    expect(kiosk.locator("#shop")).to_be_visible()
    with httpx.Client(base_url=shop.server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/api/products").status_code == 200

        row.get_by_role("button", name="Revoke Front door").click()
        page.click("#confirm-ok")
        expect(row.locator("[data-col=state]")).to_have_text("Revoked")
        assert c.get("/api/products").status_code == 401
    assert errors == []
