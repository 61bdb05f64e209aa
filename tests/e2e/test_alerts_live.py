"""SPEC §7.4 end to end: snoozes, negative-stock notifications, mail that says what to do,
and webhooks, on two uvicorn workers with a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.alerts_support import (
    STAFF,
    adjust,
    attempts,
    buy,
    notifications,
    one_notification,
    wait_status,
    wait_until,
)
from tests.fixtures.server import Shop, make_shop, start_server
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.webhook import WebhookReceiver, webhook_receiver

__all__ = ["webhook_receiver"]
SECRET = "hook-secret-0f3a"


@pytest.fixture(scope="module")
def live_shop(module_db: str, smtp_server: SmtpServer) -> Iterator[Shop]:
    server = start_server(
        module_db,
        workers=2,
        env={
            **smtp_server.env(),
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "STOCKLINE_PUBLIC_URL": "https://shop.example.com/",
            "STOCKLINE_WEBHOOK_TIMEOUT_SECONDS": "1",
        },
    )
    try:
        yield make_shop(server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_webhooks(live_shop: Shop) -> Iterator[None]:
    yield
    with live_shop.admin() as c:
        assert c.put("/api/admin/config", json={"notification_webhooks": []}).is_success


def _snooze(shop: Shop, product_id: int, **body: Any) -> httpx.Response:
    with shop.admin() as c:
        return c.post(f"/api/inventory/{product_id}/snooze", json=body)


def _set_webhooks(shop: Shop, hooks: list[dict[str, Any]]) -> dict[str, Any]:
    with shop.admin() as c:
        resp = c.put("/api/admin/config", json={"notification_webhooks": hooks})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    # every instance's cache follows within a second (NOTIFY stockline_config)
    time.sleep(0.3)
    return body


# ---------------------------------------------------------------- snoozes


def test_a_breach_of_a_snoozed_product_is_logged_suppressed_and_never_mailed(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=3, threshold=2, name="Snoozed tea")
    resp = _snooze(live_shop, product["id"], until_restocked=True)
    assert resp.status_code == 200, resp.text
    assert resp.json()["snooze"]["until_restocked"] is True
    with live_shop.kiosk() as c:
        shown = c.get(f"/api/products/{product['id']}").json()["snapshot"]["snooze"]
    assert shown["until_restocked"] is True and shown["until"] is None
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    assert note["status"] == "suppressed" and note["next_attempt_at"] is None
    with live_shop.admin() as c:
        listed = c.get("/api/admin/notifications", params={"status": "suppressed"}).json()
    assert note["id"] in [n["id"] for n in listed["items"]]
    time.sleep(1.5)  # a delivery would have happened by now
    assert smtp_server.received() == []
    assert attempts(live_shop.db_url, note["id"]) == []


def test_until_restocked_ends_at_the_rearm_and_the_next_crossing_mails_again(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=3, threshold=2)
    assert _snooze(live_shop, product["id"], until_restocked=True).status_code == 200
    buy(live_shop, product["id"])  # 2: suppressed
    adjust(live_shop, product["id"], 5)  # 7 > 2: re-armed, snooze over
    with live_shop.kiosk() as c:
        assert c.get(f"/api/inventory/{product['id']}").json()["snooze"] is None
    buy(live_shop, product["id"], 5)  # 2 again: a new crossing, mailed
    rows = wait_until(lambda: notifications(live_shop.db_url, product["id"])[1:], what="2nd")
    wait_status(live_shop.db_url, rows[0]["id"], "sent")
    assert [r["status"] for r in notifications(live_shop.db_url, product["id"])] == [
        "suppressed",
        "sent",
    ]
    assert len(smtp_server.accepted(rows[0]["message_id"])) == 1


def test_a_snooze_until_a_time_ends_when_it_passes(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=2, threshold=1)
    until = datetime.now(UTC) + timedelta(seconds=2)
    resp = _snooze(live_shop, product["id"], until=until.isoformat())
    assert resp.status_code == 200, resp.text
    assert datetime.fromisoformat(resp.json()["snooze"]["until"]) == until
    time.sleep(2.2)
    with live_shop.kiosk() as c:
        assert c.get(f"/api/inventory/{product['id']}").json()["snooze"] is None
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "sent")


def test_lifting_a_snooze_lets_the_next_breach_mail(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=2, threshold=1)
    assert _snooze(live_shop, product["id"], until_restocked=True).status_code == 200
    with live_shop.admin() as c:
        resp = c.delete(f"/api/inventory/{product['id']}/snooze")
    assert resp.status_code == 200 and resp.json()["snooze"] is None
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "sent")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "until_restocked"),
        ({"until_restocked": False}, "until_restocked"),
        ({"until": "2030-01-01T08:00:00"}, "time zone"),
        ({"until": "2001-01-01T08:00:00Z"}, "future"),
        ({"until": "tomorrow"}, "until"),
        ({"until_restocked": "yes"}, "until_restocked"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "range"),  # past UTC's end
        ({"until": "2030-01-01T08:00:00\u0000Z"}, "until"),
    ],
)
def test_a_bad_snooze_is_a_clear_422_and_changes_nothing(
    live_shop: Shop, body: dict[str, Any], fragment: str
) -> None:
    product = live_shop.create_product(stock=5, threshold=1)
    resp = _snooze(live_shop, product["id"], **body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert fragment in resp.text
    with live_shop.kiosk() as c:
        assert c.get(f"/api/inventory/{product['id']}").json()["snooze"] is None


def test_snoozing_an_unknown_product_is_404_and_a_kiosk_may_not(live_shop: Shop) -> None:
    assert _snooze(live_shop, 999_999, until_restocked=True).status_code == 404
    product = live_shop.create_product(stock=5, threshold=1)
    with live_shop.kiosk() as c:
        resp = c.post(f"/api/inventory/{product['id']}/snooze", json={"until_restocked": True})
    assert resp.status_code == 403


# ---------------------------------------------------------------- negative stock


def test_going_negative_mails_one_negative_stock_alert_and_zero_rearms_it(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=1, name="Counted wrong")  # no threshold
    buy(live_shop, product["id"], 2)  # -1
    note = one_notification(live_shop.db_url, product["id"])
    assert note["type"] == "negative_stock"
    wait_status(live_shop.db_url, note["id"], "sent")
    (mail,) = smtp_server.received(note["message_id"])
    assert "Negative stock" in mail.subject and "Counted wrong" in mail.subject
    assert "-1" in mail.subject
    buy(live_shop, product["id"])  # -2: still negative, nothing new
    adjust(live_shop, product["id"], 2)  # 0: re-armed
    assert notifications(live_shop.db_url, product["id"])[0]["breach_open"] is False
    buy(live_shop, product["id"])  # -1 again: a new crossing
    rows = wait_until(lambda: notifications(live_shop.db_url, product["id"])[1:], what="2nd")
    wait_status(live_shop.db_url, rows[0]["id"], "sent")
    assert len(notifications(live_shop.db_url, product["id"])) == 2


def test_twenty_concurrent_purchases_below_zero_make_one_negative_stock_notification(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=10)
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}

    def purchase(_: int) -> int:
        with httpx.Client(
            base_url=live_shop.server.url,
            headers={"Authorization": f"Bearer {live_shop.kiosk_token}"},
            timeout=30,
        ) as c:
            return c.post("/api/purchases", json=body).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(purchase, range(20))) == [201] * 20
    rows = notifications(live_shop.db_url, product["id"])
    assert [r["type"] for r in rows] == ["negative_stock"]
    wait_status(live_shop.db_url, rows[0]["id"], "sent")
    time.sleep(1)  # a duplicate send would arrive right behind the first
    assert len(smtp_server.received()) == 1


# ---------------------------------------------------------------- the mail


def test_the_mail_shows_stock_threshold_movements_sales_cover_and_a_product_link(
    live_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = live_shop.create_product(stock=30, threshold=5, name="Rye <bread> & co")
    for qty in (7, 7, 7):
        buy(live_shop, product["id"], qty)  # 9, sold 21 in 28 days: 0.75 a day
    adjust(live_shop, product["id"], -5)  # 4 <= 5: the breach, by the admin
    note = one_notification(live_shop.db_url, product["id"])
    smtp_server.wait_for(1, note["message_id"])
    mail = smtp_server.received(note["message_id"])[0]
    text, html = mail.text(), mail.html()
    assert "Rye <bread> & co" in mail.subject and "4 left" in mail.subject
    assert "Current stock:  4" in text and "Threshold:      5" in text
    assert "Sold per day:   0.75" in text
    assert "Days of cover:  5.33" in text or "Days of cover:  5.3" in text
    link = f"https://shop.example.com/admin#product-{product['id']}"
    assert link in text and link in html
    # the last 5 movements, newest first: who, when, how much
    movement_lines = [ln for ln in text.splitlines() if ln.startswith("    20")]
    assert len(movement_lines) == 5
    assert "-5" in movement_lines[0] and live_shop.admin_email in movement_lines[0]
    assert "-7" in movement_lines[1] and "kiosk" in movement_lines[1]
    assert "+30" in movement_lines[4]
    # both parts escape what staff typed
    assert "Rye &lt;bread&gt; &amp; co" in html and "<bread>" not in html
    assert live_shop.admin_email in html


# ---------------------------------------------------------------- webhooks


def test_every_notification_is_posted_signed_with_attempts_per_channel(
    live_shop: Shop, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    smtp_server.reset()
    webhook_receiver.reset()
    cfg = _set_webhooks(live_shop, [{"url": webhook_receiver.url(), "secret": SECRET}])
    (hook,) = cfg["notification_webhooks"]
    assert hook == {"url": webhook_receiver.url(), "has_secret": True, "channel": hook["channel"]}
    product = live_shop.create_product(stock=2, threshold=1, name="Hooked")
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "sent")
    (arrival,) = webhook_receiver.received()
    assert arrival.signed_with(SECRET)
    assert arrival.headers["content-type"] == "application/json"
    doc = arrival.json
    assert doc["id"] == note["id"] and doc["type"] == "low_stock"
    assert doc["product_id"] == product["id"] and doc["name"] == "Hooked"
    assert doc["current_stock"] == 1 and doc["threshold"] == 1
    assert "Hooked" in doc["text"]  # what a Slack-compatible receiver shows
    with live_shop.admin() as c:
        detail = c.get(f"/api/admin/notifications/{note['id']}").json()
    channels = sorted((a["channel"], a["outcome"]) for a in detail["attempts"])
    assert channels == [("email", "sent"), (hook["channel"], "sent")]
    assert [a["http_status"] for a in detail["attempts"] if a["channel"] != "email"] == [200]


def test_a_503_is_retried_without_mailing_again(
    live_shop: Shop, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    smtp_server.reset()
    webhook_receiver.reset("503", "503")
    _set_webhooks(live_shop, [{"url": webhook_receiver.url(), "secret": SECRET}])
    product = live_shop.create_product(stock=2, threshold=1)
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "sent")
    assert [a.behaviour for a in webhook_receiver.received()] == ["503", "503", "200"]
    assert len(smtp_server.received(note["message_id"])) == 1  # email was done at once
    rows = attempts(live_shop.db_url, note["id"])
    hooks = [(r["attempt_no"], r["outcome"]) for r in rows if r["channel"] != "email"]
    assert hooks == [(1, "transient"), (2, "transient"), (3, "sent")]
    assert [(r["attempt_no"], r["outcome"]) for r in rows if r["channel"] == "email"] == [
        (1, "sent")
    ]


def test_retry_after_is_honoured(
    live_shop: Shop, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.reset("429:3")
    _set_webhooks(live_shop, [{"url": webhook_receiver.url(), "secret": SECRET}])
    product = live_shop.create_product(stock=2, threshold=1)
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "sent")
    first, second = webhook_receiver.received()
    # the schedule says 0.5 s; the receiver asked for 3
    assert second.at - first.at >= 2.9


def test_a_404_is_permanent_and_a_timeout_is_retried(
    live_shop: Shop, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.reset("404")
    _set_webhooks(live_shop, [{"url": webhook_receiver.url(), "secret": SECRET}])
    product = live_shop.create_product(stock=2, threshold=1)
    buy(live_shop, product["id"])
    note = one_notification(live_shop.db_url, product["id"])
    wait_status(live_shop.db_url, note["id"], "failed")
    assert len(webhook_receiver.received()) == 1
    row = notifications(live_shop.db_url, product["id"])[0]
    assert "HTTP 404" in row["error_details"]

    webhook_receiver.reset("hang")  # STOCKLINE_WEBHOOK_TIMEOUT_SECONDS=1 here
    other = live_shop.create_product(stock=2, threshold=1)
    buy(live_shop, other["id"])
    note = one_notification(live_shop.db_url, other["id"])
    wait_status(live_shop.db_url, note["id"], "sent")
    outcomes = [
        (r["outcome"], r["error"])
        for r in attempts(live_shop.db_url, note["id"])
        if r["channel"] != "email"
    ]
    assert outcomes[0][0] == "transient" and "timeout" in outcomes[0][1]
    assert outcomes[-1] == ("sent", None)


def test_webhook_secrets_are_write_only(live_shop: Shop, webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.url("/write-only")
    _set_webhooks(live_shop, [{"url": url, "secret": "never-shown-9d2"}])
    with live_shop.admin() as c:
        body = c.get("/api/admin/config").text
        assert "never-shown-9d2" not in body and '"has_secret":true' in body
        # the list sent back without the secret keeps it
        resp = c.put("/api/admin/config", json={"notification_webhooks": [{"url": url}]})
        assert resp.status_code == 200 and "never-shown-9d2" not in resp.text
    with psycopg.connect(live_shop.db_url) as conn:
        row = conn.execute(
            "SELECT value FROM system_config WHERE key = 'notification_webhooks'"
        ).fetchone()
    assert row is not None and row[0] == [{"url": url, "secret": "never-shown-9d2"}]
    assert "never-shown-9d2" not in live_shop.server.log_text()


@pytest.mark.parametrize(
    "hook",
    [
        {"url": "ftp://files.example.com/x", "secret": "k"},
        {"url": "https://user:pa55word@hooks.example.com/x", "secret": "k"},
        {"url": "https://hooks.example.com/x"},  # new, no secret
        {"url": "https://hooks.example.com/x", "secret": "x" * 400},
        {"url": "https://hooks.example.com/x", "secret": "nul\u0000secret"},
    ],
)
def test_a_bad_webhook_is_a_422_that_echoes_no_secret(
    live_shop: Shop, hook: dict[str, Any]
) -> None:
    with live_shop.admin() as c:
        before = c.get("/api/admin/config").json()
        resp = c.put("/api/admin/config", json={"notification_webhooks": [hook]})
        assert resp.status_code == 422, resp.text
        assert "pa55word" not in resp.text and "xxxxxxxx" not in resp.text
        assert "nul\\u0000secret" not in resp.text
        assert c.get("/api/admin/config").json() == before
