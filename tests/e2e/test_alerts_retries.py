"""S-7: transient failures are retried on the schedule, permanent ones fail at once,
and every attempt is logged with the server's reply."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.alerts_support import STAFF, buy, one_notification, wait_status
from tests.fixtures.server import FAST_ENV, Shop, free_port, make_shop, start_server
from tests.fixtures.smtp import SmtpServer

SCHEDULE = [float(x) for x in FAST_ENV["STOCKLINE_RETRY_SCHEDULE"].split(",")]


@pytest.fixture(scope="module")
def alert_shop(module_db: str, smtp_server: SmtpServer) -> Iterator[Shop]:
    server = start_server(
        module_db,
        env={
            **smtp_server.env(),
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "STOCKLINE_SMTP_TIMEOUT_SECONDS": "1",
        },
    )
    try:
        yield make_shop(server)
    finally:
        server.stop()


def _breach(shop: Shop) -> dict[str, Any]:
    product = shop.create_product(stock=2, threshold=1)
    buy(shop, product["id"])
    return one_notification(shop.db_url, product["id"])


def _detail(shop: Shop, notification_id: int) -> dict[str, Any]:
    with shop.admin() as c:
        resp = c.get(f"/api/admin/notifications/{notification_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _gaps(attempts: list[dict[str, Any]]) -> list[float]:
    times = [datetime.fromisoformat(a["started_at"]) for a in attempts]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_451_twice_then_accepted_is_sent_after_three_logged_attempts(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("451", "451")
    note = _breach(alert_shop)
    wait_status(alert_shop.db_url, note["id"], "sent")
    detail = _detail(alert_shop, note["id"])
    assert detail["status"] == "sent"
    assert detail["attempt_count"] == 3
    attempts = detail["attempts"]
    assert [a["attempt_no"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["transient", "transient", "sent"]
    assert [a["smtp_code"] for a in attempts] == [451, 451, 250]
    assert "try again later" in attempts[0]["smtp_reply"]
    assert "queued" in attempts[2]["smtp_reply"]
    # the schedule, and one Message-ID on every attempt
    gaps = _gaps(attempts)
    assert gaps[0] >= SCHEDULE[0] - 0.05 and gaps[1] >= SCHEDULE[1] - 0.05
    arrivals = smtp_server.received(note["message_id"])
    assert [r.behaviour for r in arrivals] == ["451", "451", "accept"]


def test_always_451_fails_after_four_attempts_at_the_configured_schedule(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset(default="451")
    note = _breach(alert_shop)
    wait_status(alert_shop.db_url, note["id"], "failed", timeout=30)
    detail = _detail(alert_shop, note["id"])
    assert detail["attempt_count"] == 4
    assert [a["outcome"] for a in detail["attempts"]] == ["transient"] * 4
    assert detail["next_attempt_at"] is None
    assert "gave up after 4 failed attempts" in detail["error_details"]
    assert "451" in detail["error_details"]
    for gap, delay in zip(_gaps(detail["attempts"]), SCHEDULE, strict=True):
        assert delay - 0.05 <= gap <= delay + 1.5
    assert len(smtp_server.received(note["message_id"])) == 4


def test_550_fails_at_once_after_one_attempt(alert_shop: Shop, smtp_server: SmtpServer) -> None:
    smtp_server.reset("550")
    note = _breach(alert_shop)
    wait_status(alert_shop.db_url, note["id"], "failed")
    detail = _detail(alert_shop, note["id"])
    assert detail["attempt_count"] == 1
    assert detail["attempts"][0]["outcome"] == "permanent"
    assert detail["attempts"][0]["smtp_code"] == 550
    assert "permanent failure" in detail["error_details"]
    assert "550" in detail["error_details"]


def test_server_that_hangs_times_out_and_is_retried_as_transient(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("hold")
    try:
        note = _breach(alert_shop)
        wait_status(alert_shop.db_url, note["id"], "sent", timeout=20)
    finally:
        smtp_server.release_held()
    attempts = _detail(alert_shop, note["id"])["attempts"]
    assert [a["outcome"] for a in attempts] == ["transient", "sent"]
    assert attempts[0]["smtp_code"] is None
    assert "timeout" in attempts[0]["error"].lower()


def test_421_and_a_dropped_connection_are_transient(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("421", "drop")
    note = _breach(alert_shop)
    wait_status(alert_shop.db_url, note["id"], "sent")
    attempts = _detail(alert_shop, note["id"])["attempts"]
    assert [a["outcome"] for a in attempts] == ["transient", "transient", "sent"]
    assert attempts[0]["smtp_code"] == 421


def test_retry_endpoint_requeues_a_failed_notification_for_a_fresh_round(
    alert_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("550", "451")
    note = _breach(alert_shop)
    wait_status(alert_shop.db_url, note["id"], "failed")
    with alert_shop.admin() as c:
        resp = c.post(f"/api/admin/notifications/{note['id']}/retry")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] in ("pending", "sending", "retrying", "sent")
    wait_status(alert_shop.db_url, note["id"], "sent")
    detail = _detail(alert_shop, note["id"])
    assert [a["outcome"] for a in detail["attempts"]] == ["permanent", "transient", "sent"]
    assert detail["error_details"] is None
    with alert_shop.admin() as c:
        again = c.post(f"/api/admin/notifications/{note['id']}/retry")
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert "'sent'" in again.json()["detail"]
        missing = c.post("/api/admin/notifications/999999999/retry")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_no_recipients_fails_with_a_clear_error(alert_shop: Shop, smtp_server: SmtpServer) -> None:
    smtp_server.reset()
    with alert_shop.admin() as c:
        assert c.put("/api/admin/config", json={"notification_recipients": []}).is_success
    try:
        note = _breach(alert_shop)
        wait_status(alert_shop.db_url, note["id"], "failed")
        detail = _detail(alert_shop, note["id"])
        assert "no recipients" in detail["error_details"]
        assert detail["attempt_count"] == 1
        assert smtp_server.received() == []
    finally:
        with alert_shop.admin() as c:
            c.put("/api/admin/config", json={"notification_recipients": [STAFF]})


def test_connection_refused_is_transient_and_retried(fresh_db: str, server_factory: Any) -> None:
    closed = free_port()  # nothing listens here
    server = server_factory(
        fresh_db,
        env={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(closed),
            "SMTP_TLS": "none",
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "STOCKLINE_RETRY_SCHEDULE": "30",
        },
    )
    shop = make_shop(server)
    note = _breach(shop)
    wait_status(shop.db_url, note["id"], "retrying")
    detail = _detail(shop, note["id"])
    (attempt,) = detail["attempts"]
    assert attempt["outcome"] == "transient"
    assert "refused" in attempt["error"].lower() or "connect" in attempt["error"].lower()
    assert detail["next_attempt_at"] is not None
    assert "retrying in 30 s" in detail["error_details"]
