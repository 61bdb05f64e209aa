"""SPEC §7.4 digests end to end: breaches wait `pending` for the next digest time, go out
as one mail listing them all, retry as one unit, and survive a kill -9 of the leader
mid-send without loss or a second accepted copy.

The schedule's wall-clock arithmetic (zones, DST) is unit-tested with a fixed clock
(tests/unit/test_digest_schedule.py). Here a digest instant a few seconds ahead is
stored beside the real ones, so the tests need not wait for 08:00.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.e2e.alerts_support import (
    STAFF,
    attempts,
    buy,
    leader_of,
    notifications,
    one_notification,
    wait_status,
    wait_until,
)
from tests.fixtures.server import Shop, make_shop, start_server
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.webhook import WebhookReceiver, webhook_receiver

__all__ = ["webhook_receiver"]

DIGEST = {"enabled": True, "times": ["08:00", "17:30"], "timezone": "Europe/Berlin"}


def _put_config(shop: Shop, **body: Any) -> dict[str, Any]:
    with shop.admin() as c:
        resp = c.put("/api/admin/config", json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _slot_in(db_url: str, seconds: float) -> datetime:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO notification_digest_slots (at)"
            " VALUES (now() + make_interval(secs => %s)) RETURNING at",
            (seconds,),
        ).fetchone()
    assert row is not None
    at: datetime = row[0]
    return at


@pytest.fixture(scope="module")
def digest_shop(module_db: str, smtp_server: SmtpServer) -> Iterator[Shop]:
    server = start_server(
        module_db, workers=2, env={**smtp_server.env(), "ADMIN_NOTIFICATION_EMAILS": STAFF}
    )
    try:
        yield make_shop(server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def digest_on(digest_shop: Shop) -> Iterator[dict[str, Any]]:
    yield _put_config(digest_shop, notification_digest=DIGEST)
    _put_config(digest_shop, notification_digest={**DIGEST, "enabled": False})

    def settled() -> bool:  # what waited goes out now; let it, before the next test
        with psycopg.connect(digest_shop.db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM email_notification_log"
                " WHERE status IN ('pending', 'sending', 'retrying')"
            ).fetchone()
        return bool(row and row[0] == 0)

    wait_until(settled, what="the released notifications to go out")


def test_breaches_wait_pending_until_the_digest_time_then_go_out_in_one_mail(
    digest_shop: Shop, smtp_server: SmtpServer, digest_on: dict[str, Any]
) -> None:
    smtp_server.reset()
    next_at = datetime.fromisoformat(digest_on["notification_digest"]["next_at"])
    early = digest_shop.create_product(stock=2, threshold=1, name="Waits for 08:00")
    buy(digest_shop, early["id"])
    waiting = one_notification(digest_shop.db_url, early["id"])
    assert waiting["status"] == "pending" and waiting["next_attempt_at"] == next_at

    slot = _slot_in(digest_shop.db_url, 3)
    names = ["Digest apples", "Digest pears", "Digest plums"]
    products = [digest_shop.create_product(stock=2, threshold=1, name=n) for n in names]
    for p in products:
        buy(digest_shop, p["id"])
    notes = [one_notification(digest_shop.db_url, p["id"]) for p in products]
    assert {(n["status"], n["next_attempt_at"]) for n in notes} == {("pending", slot)}
    time.sleep(1)
    assert smtp_server.received() == []  # nothing before the digest time

    for n in notes:
        wait_status(digest_shop.db_url, n["id"], "sent")
    (mail,) = smtp_server.received()
    assert mail.message_id.startswith("<digest.")
    assert "3 alerts" in mail.subject
    for name in names:
        assert name in mail.text() and name in mail.html()
    assert "Waits for 08:00" not in mail.text()  # not due yet
    for n in notes:
        (attempt,) = attempts(digest_shop.db_url, n["id"])
        assert (attempt["channel"], attempt["outcome"]) == ("email", "sent")
    with psycopg.connect(digest_shop.db_url) as conn:
        row = conn.execute(
            "SELECT status, next_attempt_at FROM email_notification_log WHERE id = %s",
            (waiting["id"],),
        ).fetchone()
    assert row == ("pending", next_at)


def test_a_failed_digest_retries_as_one_unit_with_the_same_message_id(
    digest_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("451")
    _slot_in(digest_shop.db_url, 2)
    products = [digest_shop.create_product(stock=2, threshold=1) for _ in range(2)]
    for p in products:
        buy(digest_shop, p["id"])
    notes = [one_notification(digest_shop.db_url, p["id"]) for p in products]
    for n in notes:
        wait_status(digest_shop.db_url, n["id"], "sent")
    first, second = smtp_server.received()
    assert first.message_id == second.message_id
    assert (first.behaviour, second.behaviour) == ("451", "accept")
    for n in notes:
        rows = attempts(digest_shop.db_url, n["id"])
        assert [(r["attempt_no"], r["outcome"]) for r in rows] == [(1, "transient"), (2, "sent")]


def test_a_failed_digest_member_requeued_goes_out_alone_in_a_new_digest(
    digest_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("550")  # refused for good: the whole unit fails
    _slot_in(digest_shop.db_url, 2)
    products = [digest_shop.create_product(stock=2, threshold=1) for _ in range(2)]
    for p in products:
        buy(digest_shop, p["id"])
    notes = [one_notification(digest_shop.db_url, p["id"]) for p in products]
    for n in notes:
        wait_status(digest_shop.db_url, n["id"], "failed")
    (refused,) = smtp_server.received()
    with digest_shop.admin() as c:
        assert c.post(f"/api/admin/notifications/{notes[0]['id']}/retry").status_code == 200
    wait_status(digest_shop.db_url, notes[0]["id"], "sent")
    again = [m for m in smtp_server.accepted() if m.message_id != refused.message_id]
    assert len(again) == 1 and "1 alert" in again[0].subject  # its own content, own id
    assert notifications(digest_shop.db_url, products[1]["id"])[0]["status"] == "failed"


def test_turning_the_digest_off_sends_what_waited_at_once(
    digest_shop: Shop, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    product = digest_shop.create_product(stock=2, threshold=1)
    buy(digest_shop, product["id"])
    note = one_notification(digest_shop.db_url, product["id"])
    assert note["status"] == "pending"
    _put_config(digest_shop, notification_digest={**DIGEST, "enabled": False})
    wait_status(digest_shop.db_url, note["id"], "sent")
    assert len(smtp_server.accepted(note["message_id"])) == 1  # its own mail


@pytest.mark.parametrize(
    "digest",
    [
        {"enabled": True, "times": ["8am"], "timezone": "UTC"},
        {"enabled": True, "times": ["08:00"], "timezone": "Europe/Atlantis"},
        {"enabled": True, "times": [], "timezone": "UTC"},
        {"enabled": "true", "times": ["08:00"], "timezone": "UTC"},
        {"times": ["08:00"], "timezone": "UTC"},
        {"enabled": True, "times": ["08:00"], "timezone": "Europe/Berlin\u0000"},
        {"enabled": True, "times": ["08:\ud800"], "timezone": "UTC"},
    ],
)
def test_a_bad_digest_setting_is_a_422_and_changes_nothing(
    digest_shop: Shop, digest: dict[str, Any]
) -> None:
    with digest_shop.admin() as c:
        before = c.get("/api/admin/config").json()
        # json.dumps escapes a lone surrogate as \\ud800, as a JSON client may send it
        resp = c.put(
            "/api/admin/config",
            content=json.dumps({"notification_digest": digest}),
            headers={"Content-Type": "application/json"},
        )
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert (
            c.get("/api/admin/config").json()["notification_digest"]
            == (before["notification_digest"])
        )


def test_kill_9_of_the_leader_mid_digest_loses_nothing_and_delivers_once(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    env = {
        **smtp_server.env(),
        "ADMIN_NOTIFICATION_EMAILS": STAFF,
        "STOCKLINE_SEND_LEASE_SECONDS": "3",
    }
    servers = {
        name: server_factory(fresh_db, env={**env, "STOCKLINE_INSTANCE_ID": name})
        for name in ("inst-a", "inst-b")
    }
    shop = make_shop(servers["inst-a"])
    _put_config(shop, notification_digest=DIGEST)
    smtp_server.reset("hold")  # the digest's DATA gets no reply until released
    _slot_in(fresh_db, 2)
    products = [shop.create_product(stock=2, threshold=1) for _ in range(3)]
    for p in products:
        buy(shop, p["id"])
    notes = [one_notification(fresh_db, p["id"]) for p in products]
    wait_until(smtp_server.handler.holding.is_set, what="the digest mid-send")
    leader = leader_of(servers)
    servers[leader].kill()
    smtp_server.release_held()  # too late: the sender is gone, nothing was accepted

    for n in notes:
        wait_status(fresh_db, n["id"], "sent", timeout=30)
    (held,) = [m for m in smtp_server.received() if m.behaviour == "hold"]
    accepted = smtp_server.accepted()
    assert [m.message_id for m in accepted] == [held.message_id]  # the same Message-ID, once
    for n in notes:
        rows = attempts(fresh_db, n["id"])
        assert [(r["attempt_no"], r["outcome"]) for r in rows] == [
            (1, "lease_expired"),
            (2, "sent"),
        ]


def test_in_digest_mode_each_alert_is_posted_to_webhooks_at_the_digest_time(
    digest_shop: Shop, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    smtp_server.reset()
    webhook_receiver.reset("503")  # the first POST fails: only the webhooks retry
    _put_config(
        digest_shop,
        notification_webhooks=[{"url": webhook_receiver.url(), "secret": "digest-hook"}],
    )
    try:
        slot = _slot_in(digest_shop.db_url, 2)
        products = [digest_shop.create_product(stock=2, threshold=1) for _ in range(2)]
        for p in products:
            buy(digest_shop, p["id"])
        notes = [one_notification(digest_shop.db_url, p["id"]) for p in products]
        assert webhook_receiver.received() == []  # nothing before the digest time
        for n in notes:
            wait_status(digest_shop.db_url, n["id"], "sent")
        posts = webhook_receiver.received()
        assert min(p.at for p in posts) >= slot.timestamp() - 0.05
        assert sorted(p.json["id"] for p in posts if p.behaviour == "200") == sorted(
            n["id"] for n in notes
        )
        assert all(p.signed_with("digest-hook") for p in posts)
        (mail,) = smtp_server.received()  # one digest, not re-sent for the webhook retry
        assert mail.message_id.startswith("<digest.")
    finally:
        _put_config(digest_shop, notification_webhooks=[])
