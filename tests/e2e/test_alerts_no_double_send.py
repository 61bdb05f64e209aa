"""SPEC §7.1: a notification is never mailed twice by two live senders.

The reproduction from issue 10: 20 breaches commit at once, the SMTP server takes 2.5 s
per message, the lease is 4 s, and 1 s into the first send the leader's lock session
is terminated (pg_terminate_backend). The old leader is still alive and still sending;
a new leader takes over. Release 1 claimed all 20 at once while sending 8 at a time, so
the rows waiting behind the first 8 expired while their sender lived, and both senders
mailed them: 32 messages for 20 notifications. Exactly 20 must arrive.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import psycopg

from tests.e2e.alerts_support import STAFF, wait_until
from tests.fixtures.server import Server, Shop, login, make_admin, make_kiosk
from tests.fixtures.smtp import SmtpServer

BREACHES = 20
LEASE_SECONDS = 4


def _statuses(db_url: str) -> collections.Counter[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status FROM email_notification_log").fetchall()
    return collections.Counter(r[0] for r in rows)


def _lock_backend(db_url: str) -> int | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT l.backend_pid FROM notification_worker_leader l"
            " JOIN pg_locks k ON k.pid = l.backend_pid AND k.locktype = 'advisory'"
        ).fetchone()
    return int(row[0]) if row else None


def test_twenty_breaches_with_a_slow_server_and_a_lost_lock_are_mailed_exactly_once(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    env = {
        **smtp_server.env(),
        "ADMIN_NOTIFICATION_EMAILS": STAFF,
        "STOCKLINE_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
        "STOCKLINE_SMTP_TIMEOUT_SECONDS": "30",
    }
    servers: list[Server] = [
        server_factory(fresh_db, env={**env, "STOCKLINE_INSTANCE_ID": name})
        for name in ("inst-a", "inst-b")
    ]
    email, password = make_admin(fresh_db)
    shop = Shop(
        servers[0], login(servers[0], email, password), make_kiosk(fresh_db), email, password
    )
    products = [shop.create_product(stock=2, threshold=1) for _ in range(BREACHES)]
    old_backend = wait_until(lambda: _lock_backend(fresh_db), what="a leader")
    smtp_server.handler.slow_seconds = 2.5
    smtp_server.reset(default="slow")

    # one basket, one commit: 20 breaches at once
    with shop.kiosk() as c:
        resp = c.post(
            "/api/purchases",
            json={"items": [{"product_id": p["id"], "quantity": 1} for p in products]},
        )
    assert resp.status_code == 201, resp.text
    wait_until(lambda: smtp_server.received(), timeout=15, what="the first send")
    time.sleep(1)  # the fault, 1 s into the first sends
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (old_backend,))
    wait_until(
        lambda: (_lock_backend(fresh_db) or old_backend) != old_backend,
        timeout=15,
        what="a new leader",
    )

    wait_until(
        lambda: _statuses(fresh_db)["sent"] == BREACHES, timeout=90, what="every breach sent"
    )
    # a second sender's copy would start at the latest when a lease it waited for ran out
    time.sleep(LEASE_SECONDS + 1)

    arrivals = collections.Counter(r.message_id for r in smtp_server.received())
    assert len(arrivals) == BREACHES
    assert all(n == 1 for n in arrivals.values()), arrivals
    assert len(smtp_server.accepted()) == BREACHES
    with psycopg.connect(fresh_db) as conn:
        outcomes = conn.execute(
            "SELECT outcome, count(*) FROM email_notification_attempts GROUP BY outcome"
        ).fetchall()
    # nobody died, so no attempt is written off as lease_expired
    assert dict(outcomes) == {"sent": BREACHES}
