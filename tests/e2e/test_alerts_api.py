"""The admin notification API, /healthz and /metrics for the worker, captured mail,
and the SMTP password that is used but never shown (S-9, S-10, SPEC §3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.alerts_support import STAFF, buy, one_notification, wait_status, wait_until
from tests.fixtures.server import Server, Shop, make_shop, start_server
from tests.fixtures.smtp import SmtpServer

MARKER = "pw-SECRET-MARKER-7f3a9c"
SEEN: list[str] = []  # every response body and header block of this module's run


@pytest.fixture(scope="module")
def alert_shop(module_db: str, smtp_server: SmtpServer) -> Iterator[Shop]:
    server = start_server(
        module_db,
        workers=2,
        env={
            **smtp_server.env(SMTP_USER="stockline", SMTP_PASSWORD=MARKER),
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "STOCKLINE_INSTANCE_ID": "api-test-instance",
        },
    )
    try:
        yield make_shop(server)
    finally:
        server.stop()


def _get(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    resp = client.get(path, **kwargs)
    SEEN.append(f"{resp.headers}\n{resp.text}")
    return resp


def _breaches(shop: Shop, count: int) -> list[dict[str, Any]]:
    notes = []
    for _ in range(count):
        product = shop.create_product(stock=2, threshold=1)
        buy(shop, product["id"])
        notes.append(one_notification(shop.db_url, product["id"]))
    for note in notes:
        wait_status(shop.db_url, note["id"], "sent")
    return notes


def test_smtp_login_uses_the_configured_password(alert_shop: Shop, smtp_server: SmtpServer) -> None:
    smtp_server.reset()
    smtp_server.handler.logins.clear()
    _breaches(alert_shop, 1)
    assert ("stockline", MARKER) in smtp_server.handler.logins


def test_list_filters_by_status_and_type_and_pages_newest_first(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    notes = _breaches(alert_shop, 3)
    ids = sorted((n["id"] for n in notes), reverse=True)
    with alert_shop.admin() as c:
        first = _get(c, "/api/admin/notifications", params={"status": "sent", "limit": 2}).json()
        assert [i["id"] for i in first["items"]][:2] == ids[:2]
        assert first["next_before_id"] == ids[1]
        second = _get(
            c,
            "/api/admin/notifications",
            params={"status": "sent", "limit": 2, "before_id": first["next_before_id"]},
        ).json()
        assert second["items"][0]["id"] == ids[2]
        assert all(i["status"] == "sent" for i in first["items"] + second["items"])
        item = first["items"][0]
        assert item["type"] == "low_stock"
        assert item["payload"]["threshold"] == 1
        assert {"attempt_count", "last_attempt_at", "next_attempt_at", "error_details"} <= set(item)
        failed = _get(c, "/api/admin/notifications", params={"status": "failed"}).json()
        assert failed == {"items": [], "next_before_id": None}
        typed = _get(c, "/api/admin/notifications", params={"type": "low_stock"}).json()
        assert len(typed["items"]) >= 3
        other = _get(c, "/api/admin/notifications", params={"type": "weekly_digest"}).json()
        assert other["items"] == []


def test_one_notification_comes_with_its_attempts(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("451")
    (note,) = _breaches(alert_shop, 1)
    with alert_shop.admin() as c:
        body = _get(c, f"/api/admin/notifications/{note['id']}").json()
    assert body["id"] == note["id"]
    assert body["message_id"] == note["message_id"]
    assert [(a["attempt_no"], a["outcome"], a["smtp_code"]) for a in body["attempts"]] == [
        (1, "transient", 451),
        (2, "sent", 250),
    ]


def test_stats_count_by_status_attempts_retries_and_name_the_leader(alert_shop: Shop) -> None:
    with alert_shop.admin() as c:
        resp = _get(c, "/api/admin/notifications/stats")
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    assert set(stats["by_status"]) == {
        "pending",
        "sending",
        "retrying",
        "sent",
        "failed",
        "suppressed",  # SPEC §7.4: raised while the product was snoozed
    }
    assert stats["by_status"]["sent"] >= 5
    assert stats["total"] == sum(stats["by_status"].values())
    assert stats["attempts"] >= stats["total"]
    assert stats["retries"] >= 1
    assert stats["attempts_by_outcome"]["transient"] >= 1
    assert stats["success_rate"] == 1.0
    assert stats["oldest_pending_age_seconds"] is None
    leader = stats["leader"]
    assert leader["instance_id"] == "api-test-instance"
    assert leader["host"] and leader["pid"] > 0 and leader["since"]


def test_notification_endpoints_are_admin_only(alert_shop: Shop) -> None:
    paths = [
        "/api/admin/notifications",
        "/api/admin/notifications/stats",
        "/api/admin/notifications/1",
        "/api/admin/mail",
    ]
    with alert_shop.server.client() as anonymous, alert_shop.kiosk() as kiosk:
        for path in paths:
            assert _get(anonymous, path).status_code == 401
            assert _get(kiosk, path).status_code == 403
        assert kiosk.post("/api/admin/notifications/1/retry").status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/admin/notifications/0", {}, 422),
        ("/api/admin/notifications/9223372036854775808", {}, 422),
        ("/api/admin/notifications/abc", {}, 422),
        ("/api/admin/notifications/999999999", {}, 404),
        ("/api/admin/notifications", {"status": "lost"}, 422),
        ("/api/admin/notifications", {"limit": 0}, 422),
        ("/api/admin/notifications", {"limit": 100000}, 422),
        ("/api/admin/notifications", {"before_id": -1}, 422),
        ("/api/admin/notifications", {"type": "x" * 65}, 422),
        ("/api/admin/mail", {"limit": "many"}, 422),
    ],
)
def test_bad_ids_and_filters_are_problem_json_4xx(
    alert_shop: Shop, path: str, params: dict[str, Any], status: int
) -> None:
    with alert_shop.admin() as c:
        resp = _get(c, path, params=params)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"


def test_healthz_names_the_worker_lock_holder(alert_shop: Shop) -> None:
    def leader_seen() -> dict[str, Any] | None:
        with alert_shop.server.client() as c:
            body: dict[str, Any] = _get(c, "/healthz").json()
        worker: dict[str, Any] = body["worker"]
        return worker if worker["lock_holder"] else None

    worker = wait_until(leader_seen, what="a lock holder in /healthz")
    assert worker["lock_holder"]["instance_id"] == "api-test-instance"
    assert worker["state"] in ("leading", "following")
    assert worker["delivery"] == "smtp"


def test_metrics_aggregate_leader_queue_and_attempts_across_workers(alert_shop: Shop) -> None:
    def scraped() -> str | None:
        with alert_shop.server.client() as c:
            text = _get(c, "/metrics").text
        sent = [
            ln
            for ln in text.splitlines()
            if ln.startswith('stockline_notifications{status="sent"}')
        ]
        # the gauge is refreshed periodically: wait for a scrape that has counted the mail
        return text if sent and float(sent[0].split()[-1]) >= 5 else None

    text = wait_until(scraped, what="queue depth in /metrics")
    lines = text.splitlines()
    assert "stockline_worker_leader 1.0" in lines
    sent = [ln for ln in lines if ln.startswith('stockline_notifications{status="sent"}')]
    assert float(sent[0].split()[-1]) >= 5
    attempts = [
        ln for ln in lines if ln.startswith('stockline_notification_attempts_total{outcome="sent"}')
    ]
    assert float(attempts[0].split()[-1]) >= 5


def test_smtp_password_appears_in_no_response_and_no_log_line(alert_shop: Shop) -> None:
    with alert_shop.admin() as c:
        for path in ("/api/admin/config", "/openapi.json", "/api/admin/mail", "/healthz"):
            assert _get(c, path).status_code == 200
    assert len(SEEN) > 20
    assert not [s for s in SEEN if MARKER in s]
    log = alert_shop.server.log_text()
    assert '"action": "notification_sent"' in log  # the log did record the sends
    assert MARKER not in log


def test_without_smtp_host_mail_is_captured_and_listed(fresh_db: str, server_factory: Any) -> None:
    server: Server = server_factory(fresh_db, env={"ADMIN_NOTIFICATION_EMAILS": STAFF})
    shop = make_shop(server)
    product = shop.create_product(stock=3, threshold=2, name="Captured coffee")
    buy(shop, product["id"])
    note = one_notification(shop.db_url, product["id"])
    wait_status(shop.db_url, note["id"], "sent")
    with shop.admin() as c:
        page = c.get("/api/admin/mail").json()
        detail = c.get(f"/api/admin/notifications/{note['id']}").json()
        health = c.get("/healthz").json()
    (mail,) = page["items"]
    assert page["next_before_id"] is None
    assert mail["notification_id"] == note["id"]
    assert mail["message_id"] == note["message_id"]
    assert mail["recipients"] == [STAFF]
    assert "Captured coffee" in mail["subject"]
    assert product["sku"] in mail["body_text"] and "Current stock:  2" in mail["body_text"]
    assert "Captured coffee" in mail["body_html"]
    assert [a["outcome"] for a in detail["attempts"]] == ["sent"]
    assert health["worker"]["delivery"] == "capture"
