"""The landed alerting's fault tests, extended to SPEC §7.4: a leader killed mid-webhook,
a webhook receiver that is down, negative stock across a leader failover, and a snoozed
product crossed by 20 purchases at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

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
from tests.fixtures.server import Server, Shop, make_shop
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.webhook import WebhookReceiver, webhook_receiver

__all__ = ["webhook_receiver"]
SECRET = "fault-secret-41d0"


def _pair(
    db_url: str, server_factory: Any, smtp_server: SmtpServer, **env: str
) -> dict[str, Server]:
    base = {**smtp_server.env(), "ADMIN_NOTIFICATION_EMAILS": STAFF, **env}
    return {
        name: server_factory(db_url, env={**base, "STOCKLINE_INSTANCE_ID": name})
        for name in ("inst-a", "inst-b")
    }


def _webhooks(shop: Shop, receiver: WebhookReceiver) -> None:
    with shop.admin() as c:
        resp = c.put(
            "/api/admin/config",
            json={"notification_webhooks": [{"url": receiver.url(), "secret": SECRET}]},
        )
    assert resp.status_code == 200, resp.text
    time.sleep(0.3)  # every instance's cache follows at once (NOTIFY)


def test_kill_9_of_the_leader_mid_webhook_reposts_the_same_notification(
    fresh_db: str,
    server_factory: Any,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    servers = _pair(
        fresh_db,
        server_factory,
        smtp_server,
        STOCKLINE_SEND_LEASE_SECONDS="3",
        STOCKLINE_WEBHOOK_TIMEOUT_SECONDS="20",
    )
    shop = make_shop(servers["inst-a"])
    smtp_server.reset()
    webhook_receiver.reset("hang")  # the first POST gets no answer
    _webhooks(shop, webhook_receiver)
    product = shop.create_product(stock=2, threshold=1)
    buy(shop, product["id"])
    note = one_notification(fresh_db, product["id"])
    wait_until(webhook_receiver.received, what="the POST to arrive")
    servers[leader_of(servers)].kill()
    webhook_receiver.release.set()  # the hung handler ends; its client is gone

    wait_status(fresh_db, note["id"], "sent", timeout=30)
    posts = webhook_receiver.received()
    assert [p.behaviour for p in posts] == ["hang", "200"]
    assert posts[0].body == posts[1].body and posts[1].signed_with(SECRET)
    assert posts[1].json["id"] == note["id"]  # receivers deduplicate on it
    # the mail went out in the dead attempt or the next, always with one Message-ID
    assert {m.message_id for m in smtp_server.accepted()} == {note["message_id"]}
    rows = attempts(fresh_db, note["id"])
    assert (1, "lease_expired") in [(r["attempt_no"], r["outcome"]) for r in rows]
    assert sorted(r["channel"] for r in rows if r["outcome"] == "sent")[-1].startswith("webhook:")


def test_a_receiver_that_is_down_is_retried_then_failed_while_the_mail_goes_once(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    down = WebhookReceiver()  # bound, never started, then closed: connections are refused
    url = down.url()
    down._server.server_close()
    (server,) = (
        server_factory(fresh_db, env={**smtp_server.env(), "ADMIN_NOTIFICATION_EMAILS": STAFF}),
    )
    shop = make_shop(server)
    smtp_server.reset()
    with shop.admin() as c:
        resp = c.put(
            "/api/admin/config", json={"notification_webhooks": [{"url": url, "secret": SECRET}]}
        )
    assert resp.status_code == 200
    time.sleep(0.3)
    product = shop.create_product(stock=2, threshold=1)
    buy(shop, product["id"])
    note = one_notification(fresh_db, product["id"])
    wait_status(fresh_db, note["id"], "failed", timeout=30)
    rows = attempts(fresh_db, note["id"])
    hooks = [(r["attempt_no"], r["outcome"]) for r in rows if r["channel"] != "email"]
    assert hooks == [(1, "transient"), (2, "transient"), (3, "transient"), (4, "transient")]
    assert [r["outcome"] for r in rows if r["channel"] == "email"] == ["sent"]
    assert len(smtp_server.accepted(note["message_id"])) == 1
    (row,) = notifications(fresh_db, product["id"])
    assert "gave up after 4" in row["error_details"] and row["channel_states"] == {"email": "sent"}


def test_negative_stock_after_a_leader_failover_is_mailed_exactly_once(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    servers = _pair(fresh_db, server_factory, smtp_server)
    leader = leader_of(servers)
    survivor = "inst-b" if leader == "inst-a" else "inst-a"
    servers[leader].kill()
    shop = make_shop(servers[survivor])
    wait_until(lambda: leader_of({survivor: servers[survivor]}) == survivor, what="a new leader")
    smtp_server.reset()
    product = shop.create_product(stock=1)
    buy(shop, product["id"], 3)
    note = one_notification(fresh_db, product["id"])
    assert note["type"] == "negative_stock"
    wait_status(fresh_db, note["id"], "sent")
    time.sleep(1)  # a second dispatcher would deliver right behind the first
    assert len(smtp_server.received(note["message_id"])) == 1


def test_twenty_concurrent_crossings_of_a_snoozed_product_log_one_suppressed_and_mail_none(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    server = server_factory(
        fresh_db, workers=2, env={**smtp_server.env(), "ADMIN_NOTIFICATION_EMAILS": STAFF}
    )
    shop = make_shop(server)
    smtp_server.reset()
    product = shop.create_product(stock=25, threshold=20)
    with shop.admin() as c:
        resp = c.post(f"/api/inventory/{product['id']}/snooze", json={"until_restocked": True})
    assert resp.status_code == 200

    def purchase(_: int) -> int:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {shop.kiosk_token}"}
        ) as c:
            body = {"items": [{"product_id": product["id"], "quantity": 5}]}
            return c.post("/api/purchases", json=body).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(purchase, range(20))) == [201] * 20
    rows = notifications(fresh_db, product["id"])
    # 25 → -75: the threshold and zero are crossed once each, both while snoozed
    assert sorted((r["type"], r["status"]) for r in rows) == [
        ("low_stock", "suppressed"),
        ("negative_stock", "suppressed"),
    ]
    time.sleep(1.5)  # a delivery would have happened by now
    assert smtp_server.received() == []
    assert all(attempts(fresh_db, r["id"]) == [] for r in rows)
