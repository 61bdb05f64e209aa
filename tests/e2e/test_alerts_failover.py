"""S-8: one dispatcher per cluster; a dead leader is replaced within 5 s, and a send
cut off by a crash is taken up again after its lease with the same Message-ID."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import psycopg

from tests.e2e.alerts_support import STAFF, attempts, buy, one_notification, wait_status, wait_until
from tests.fixtures.server import Server, Shop, login, make_admin, make_kiosk
from tests.fixtures.smtp import SmtpServer

FAILOVER_LIMIT = 5.0


def _pair(
    db_url: str, server_factory: Any, smtp_server: SmtpServer, **env: str
) -> dict[str, Server]:
    base = {**smtp_server.env(), "ADMIN_NOTIFICATION_EMAILS": STAFF, **env}
    servers = {}
    for name in ("inst-a", "inst-b"):
        servers[name] = server_factory(db_url, env={**base, "STOCKLINE_INSTANCE_ID": name})
    return servers


def _shop(server: Server) -> Shop:
    email, password = make_admin(server.db_url)
    return Shop(server, login(server, email, password), make_kiosk(server.db_url), email, password)


def _leader(shop: Shop) -> dict[str, Any] | None:
    with shop.admin() as c:
        resp = c.get("/api/admin/notifications/stats")
    assert resp.status_code == 200, resp.text
    leader: dict[str, Any] | None = resp.json()["leader"]
    return leader


def _is_leader(server: Server) -> bool:
    try:
        body = httpx.get(server.url + "/healthz", timeout=2).json()
    except httpx.HTTPError:
        return False
    return bool(body["worker"]["is_leader"])


def _log_actions(server: Server, action: str) -> list[dict[str, Any]]:
    found = []
    for line in server.log_text().splitlines():
        if f'"action": "{action}"' in line:
            found.append(json.loads(line))
    return found


def _mail_new_breach_once(shop: Shop, smtp_server: SmtpServer) -> None:
    smtp_server.reset()
    product = shop.create_product(stock=2, threshold=1)
    buy(shop, product["id"])
    note = one_notification(shop.db_url, product["id"])
    wait_status(shop.db_url, note["id"], "sent")
    time.sleep(1)  # a second dispatcher would deliver right behind the first
    assert len(smtp_server.received(note["message_id"])) == 1


def test_kill_9_of_the_leader_instance_hands_the_lock_to_the_survivor_within_5s(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    servers = _pair(fresh_db, server_factory, smtp_server)
    shops = {name: _shop(server) for name, server in servers.items()}
    leader = wait_until(lambda: _leader(shops["inst-a"]), what="a leader")
    assert leader["instance_id"] in servers
    assert {"instance_id", "host", "pid", "since"} <= set(leader)
    acquired = _log_actions(servers[leader["instance_id"]], "leader_acquired")
    assert acquired and acquired[-1]["pid"] == leader["pid"] and acquired[-1]["host"]
    survivor = "inst-b" if leader["instance_id"] == "inst-a" else "inst-a"

    servers[leader["instance_id"]].kill()
    killed_at = time.monotonic()
    new = wait_until(
        lambda: (_leader(shops[survivor]) or {}).get("instance_id") == survivor,
        timeout=FAILOVER_LIMIT + 5,
        what="the survivor to lead",
    )
    assert new
    assert time.monotonic() - killed_at <= FAILOVER_LIMIT
    assert _is_leader(servers[survivor])
    _mail_new_breach_once(shops[survivor], smtp_server)


def test_terminating_the_leaders_lock_connection_hands_over_within_5s(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    servers = _pair(fresh_db, server_factory, smtp_server)
    shop = _shop(servers["inst-a"])
    old = wait_until(lambda: _leader(shop), what="a leader")
    with psycopg.connect(fresh_db) as conn:
        backend = conn.execute("SELECT backend_pid FROM notification_worker_leader").fetchone()
        assert backend is not None
        conn.execute("SELECT pg_terminate_backend(%s)", (backend[0],))
    cut_at = time.monotonic()
    old_server = servers[old["instance_id"]]
    # the old leader notices on its own (its next check fails) and says so
    wait_until(
        lambda: _log_actions(old_server, "leader_lost"), timeout=FAILOVER_LIMIT, what="leader_lost"
    )

    def one_new_leader() -> bool:
        current = _leader(shop)
        flags = [_is_leader(s) for s in servers.values()]
        return bool(current) and current["since"] != old["since"] and flags.count(True) == 1

    wait_until(one_new_leader, timeout=FAILOVER_LIMIT + 5, what="exactly one new leader")
    assert time.monotonic() - cut_at <= FAILOVER_LIMIT
    _mail_new_breach_once(shop, smtp_server)


def test_kill_9_during_a_send_resends_after_the_lease_with_the_same_message_id(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    servers = _pair(
        fresh_db,
        server_factory,
        smtp_server,
        STOCKLINE_SEND_LEASE_SECONDS="4",
        STOCKLINE_SMTP_TIMEOUT_SECONDS="30",
    )
    shops = {name: _shop(server) for name, server in servers.items()}
    leader = wait_until(lambda: _leader(shops["inst-a"]), what="a leader")["instance_id"]
    survivor = "inst-b" if leader == "inst-a" else "inst-a"
    smtp_server.reset("hold")
    try:
        product = shops[survivor].create_product(stock=2, threshold=1)
        buy(shops[survivor], product["id"])
        note = one_notification(fresh_db, product["id"])
        assert smtp_server.handler.holding.wait(10), "the leader never reached DATA"
        servers[leader].kill()  # mid-send: the DATA reply is still held back
        wait_status(fresh_db, note["id"], "sent", timeout=20)
    finally:
        smtp_server.release_held()
    arrivals = smtp_server.received(note["message_id"])
    assert [r.behaviour for r in arrivals] == ["hold", "accept"]
    assert arrivals[0].message_id == arrivals[1].message_id == note["message_id"]
    logged = attempts(fresh_db, note["id"])
    assert [(a["attempt_no"], a["outcome"]) for a in logged] == [(1, "lease_expired"), (2, "sent")]
    assert logged[0]["instance_id"] == leader
    assert logged[1]["instance_id"] == survivor
    # not before the lease ran out
    assert (logged[1]["started_at"] - logged[0]["started_at"]).total_seconds() >= 4 - 0.1
    assert _log_actions(servers[survivor], "notification_lease_expired")


def test_a_stopping_leader_releases_the_lock_and_logs_it(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    servers = _pair(fresh_db, server_factory, smtp_server)
    shops = {name: _shop(server) for name, server in servers.items()}
    leader = wait_until(lambda: _leader(shops["inst-a"]), what="a leader")["instance_id"]
    survivor = "inst-b" if leader == "inst-a" else "inst-a"
    servers[leader].stop()  # SIGTERM: a graceful shutdown
    released = _log_actions(servers[leader], "leader_released")
    assert released and released[-1]["instance_id"] == leader and released[-1]["host"]
    wait_until(
        lambda: (_leader(shops[survivor]) or {}).get("instance_id") == survivor,
        timeout=FAILOVER_LIMIT,
        what="the survivor to lead",
    )
