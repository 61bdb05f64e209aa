"""/metrics on `serve --workers 2`: the shop's figures from the database, the processes'
own counters summed across workers, and nothing an alert cannot use."""

from __future__ import annotations

import re
import signal
import time
import uuid
from typing import Any

import httpx
import psutil
import psycopg

import stockline
from tests.fixtures.server import Server, make_shop, wait_healthy
from tests.fixtures.sse import EventCollector
from tests.integration.test_prometheus_rules import alert_metric_names


def _scrape(server: Server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    assert "_created" not in text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _db_count(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    return int(row[0]) if row else 0


def test_metrics_count_the_shop_across_two_workers(fresh_db: str, server_factory: Any) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    low = shop.create_product(stock=5, threshold=4)
    negative = shop.create_product(stock=1)
    shop.create_product(stock=50)
    purchases = 12
    with shop.kiosk() as kiosk:
        for i in range(purchases):
            pid = low["id"] if i % 2 else negative["id"]
            resp = kiosk.post(
                "/api/purchases",
                json={"items": [{"product_id": pid, "quantity": 1}]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert resp.status_code == 201
    with shop.admin() as admin:
        resp = admin.post(
            f"/api/inventory/{negative['id']}/adjustments", json={"delta": -1, "reason": "broken"}
        )
        assert resp.status_code == 201

    # every scrape, whichever worker answers, says the same about the shop
    for _ in range(12):
        values = _scrape(server)
        assert values['stockline_ledger_rows_total{source="purchase"}'] == purchases
        assert values['stockline_ledger_rows_total{source="system"}'] == 3
        assert values['stockline_ledger_rows_total{source="manual_adjustment"}'] == 1
        assert values['stockline_ledger_rows_total{source="reconciliation"}'] == 0
        # 5 - 6 = -1 at threshold 4: low and negative; 1 - 6 - 1 = -6, no threshold
        assert values["stockline_products_low"] == 1
        assert values["stockline_products_negative"] == 2
        assert values["stockline_products"] == 3
        assert values["stockline_verify_mismatches"] == 0
        assert values["stockline_worker_lock_holders"] == 1
        assert values["stockline_database_figures_ok"] == 1
        for status in ("pending", "sending", "retrying", "sent", "failed"):
            assert f'stockline_notifications{{status="{status}"}}' in values
        version = f'stockline_build_info{{python="{_python()}",version="{stockline.__version__}"}}'
        assert values[version] == 1
    # the processes' own counters are summed over both workers' multiprocess files
    values = _scrape(server)
    assert values["stockline_purchases_total"] == purchases
    assert values[
        'stockline_http_requests_total{method="POST",route="/api/purchases",status="201"}'
    ] == (purchases)
    assert values["stockline_worker_leader"] == 1
    assert values["stockline_listener_connected"] == 1
    assert _db_count(fresh_db, "SELECT count(*) FROM email_notification_log") == sum(
        v for k, v in values.items() if k.startswith("stockline_notifications{")
    )

    # every series the alert rules read exists
    text = httpx.get(server.url + "/metrics").text
    for name in alert_metric_names():
        assert f"# HELP {name} " in text, name

    # a corruption behind the triggers' back shows as a verify mismatch
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE inventory_snapshot SET current_stock = current_stock + 1 WHERE product_id = %s",
            (low["id"],),
        )
    assert _scrape(server)["stockline_verify_mismatches"] == 1


def test_oldest_pending_age_grows_while_mail_waits(fresh_db: str, server_factory: Any) -> None:
    # a notification whose next attempt is a day away waits, and the gauge says how long
    server = server_factory(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        conn.execute(
            "INSERT INTO email_notification_log"
            " (type, payload, status, message_id, created_at, next_attempt_at) VALUES"
            " ('low_stock', '{}', 'retrying', '<m1@test>', now() - interval '10 minutes',"
            "  now() + interval '1 day')"
        )
    values = _scrape(server)
    assert values['stockline_notifications{status="retrying"}'] == 1
    assert 590 < values["stockline_notification_oldest_pending_age_seconds"] < 900


def _python() -> str:
    import platform

    return platform.python_version()


def test_metrics_still_answer_when_the_database_is_gone(own_postgres: Any) -> None:
    from tests.fixtures.server import start_server

    server = start_server(own_postgres.url)
    try:
        own_postgres.stop()
        values = _scrape(server)
        assert values["stockline_database_figures_ok"] == 0
        assert re.search(r"stockline_build_info\{", httpx.get(server.url + "/metrics").text)
        assert "stockline_ledger_rows_total" not in "".join(values)
    finally:
        server.stop()
        own_postgres.start()


def _workers(server: Server) -> list[psutil.Process]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(server.process.pid).children()
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


def _until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_killed_workers_leave_no_live_gauge_behind(fresh_db: str, server_factory: Any) -> None:
    server = server_factory(fresh_db, workers=2)
    shop = make_shop(server)
    streams = [EventCollector(server.url, token=shop.kiosk_token) for _ in range(4)]
    try:
        for stream in streams:
            stream.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        assert _scrape(server)["stockline_sse_subscribers"] == 4
        workers = _workers(server)
        assert len(workers) == 2
        for worker in workers:
            worker.send_signal(signal.SIGKILL)  # no shutdown: their gauges' files stay
        psutil.wait_procs(workers, timeout=10)
        _until(
            lambda: len(set(_workers(server)) - set(workers)) == 2,
            "the supervisor restarts both workers",
        )
        wait_healthy(server)
    finally:
        for stream in streams:
            stream.close()
    # the dead workers' last values (4 open streams; listener and leader flags) are gone
    _until(lambda: _scrape(server)["stockline_sse_subscribers"] == 0, "stale stream count")
    _until(lambda: _scrape(server)["stockline_listener_connected"] == 1, "listener gauge")
    _until(lambda: _scrape(server)["stockline_worker_leader"] == 1, "leader gauge")
    assert "forgot the live gauges of workers that are gone" in server.log_text()
