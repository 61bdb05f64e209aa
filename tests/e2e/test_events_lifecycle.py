"""Stream lifecycle in a real `serve`: a subscriber too slow to read is disconnected
(and replays on reconnect), and SIGTERM ends 100 open streams cleanly and quickly."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from tests.fixtures import aio
from tests.fixtures.server import Server, make_shop
from tests.fixtures.sse import EventCollector

_ID = re.compile(rb"^id: (\d+)$", re.MULTILINE)


def _raw_stream(server: Server, token: str, rcvbuf: int | None = None) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(
        b"GET /api/inventory/events HTTP/1.1\r\nHost: test\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nAccept: text/event-stream\r\n\r\n"
    )
    return sock


def _write_burst(db_url: str, product_id: int, rows: int) -> int:
    """`rows` stock changes in one transaction: one stock-updated event each."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source) "
            "SELECT %s, -1, 'system' FROM generate_series(1, %s)",
            (product_id, rows),
        )
        conn.commit()
        row = conn.execute("SELECT last_id FROM inventory_event_counter").fetchone()
    assert row is not None
    return int(row[0])


def _hub(server: Server) -> dict[str, Any]:
    hub: dict[str, Any] = httpx.get(server.url + "/healthz", timeout=10).json()["events"]["hub"]
    return hub


def test_slow_subscriber_is_disconnected_and_replays_what_it_missed(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, env={"STOCKLINE_SSE_QUEUE_SIZE": "50"})
    shop = make_shop(server)
    product = shop.create_product(stock=100_000)
    fast = EventCollector(server.url, token=shop.kiosk_token)
    slow = _raw_stream(server, shop.kiosk_token, rcvbuf=4096)
    try:
        slow.settimeout(10)
        assert slow.recv(64).startswith(b"HTTP/1.1 200")
        # the slow client now reads nothing while events are written in bursts, until the
        # kernel's socket buffers (several MiB on loopback) and its 50-frame queue are full
        start = fast.ids[-1] if fast.ids else 1
        for _ in range(10):
            end = _write_burst(fresh_db, product["id"], 3000)
            fast.wait_for(
                lambda s, end=end: bool(s.ids) and s.ids[-1] >= end, timeout=30, what="burst"
            )
            if _hub(server)["dropped_slow"] >= 1:
                break
        assert _hub(server)["dropped_slow"] == 1
        # the fast one kept up, every event in order
        assert [i for i in fast.ids if i > start] == list(range(start + 1, end + 1))
        assert _hub(server)["subscribers"] == 1
        assert "slow event subscriber disconnected" in server.log_text()

        # what the slow client had buffered, then the end of the stream (not a hang)
        received = b""
        while chunk := slow.recv(65536):
            received += chunk
        ids = [int(i) for i in _ID.findall(received)]
        assert ids and ids[-1] < end
        assert ids == list(range(ids[0], ids[-1] + 1))
    finally:
        slow.close()
        fast.close()
    # reconnecting with the last id it saw replays the rest: no gap, no duplicate
    with EventCollector(
        server.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(ids[-1])}
    ) as again:
        again.wait_for(lambda s: bool(s.ids) and s.ids[-1] >= end, timeout=30, what="replay")
        assert again.ids == list(range(ids[-1] + 1, end + 1))


async def _open_and_read(host: str, port: int, token: str, opened: list[bool]) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /api/inventory/events HTTP/1.1\r\nHost: test\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    await writer.drain()
    data = await reader.readuntil(b"heartbeat")
    opened.append(True)
    data += await reader.read()  # until the server closes
    writer.close()
    return data


def test_sigterm_ends_100_open_streams_cleanly_and_exits_within_seconds(
    fresh_db: str, server_factory: Any
) -> None:
    # 100 streams on one kiosk's token: above the default per-principal cap (16)
    server = server_factory(
        fresh_db, workers=2, env={"STOCKLINE_MAX_STREAMS_PER_PRINCIPAL": "1000"}
    )
    shop = make_shop(server)
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port

    async def scenario() -> tuple[list[bytes], float]:
        opened: list[bool] = []
        tasks = [
            asyncio.create_task(
                _open_and_read(parts.hostname, parts.port, shop.kiosk_token, opened)
            )
            for _ in range(100)
        ]
        deadline = time.monotonic() + 30
        while len(opened) < 100:
            assert time.monotonic() < deadline, f"only {len(opened)} streams opened"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        bodies = await asyncio.wait_for(asyncio.gather(*tasks), 15)
        while server.process.poll() is None:
            assert time.monotonic() - started < 15, "server did not exit"
            await asyncio.sleep(0.05)
        return bodies, time.monotonic() - started

    bodies, elapsed = aio.run(scenario())
    assert server.process.returncode == 0
    assert elapsed < 3.0, f"took {elapsed:.1f}s"
    # every response ended with the chunked terminator (a clean end), after a goodbye
    assert all(b.endswith(b"0\r\n\r\n") for b in bodies)
    assert all(b"server shutting down" in b for b in bodies)
    log = server.log_text()
    assert "timeout graceful shutdown exceeded" not in log
    assert "Exception in ASGI application" not in log


def _metric(server: Server, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    found = re.search(rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+]+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_open_streams_hold_no_pooled_connection_and_show_in_metrics(
    fresh_db: str, server_factory: Any
) -> None:
    # two pooled connections for the whole process, ten open streams
    server = server_factory(
        fresh_db, env={"STOCKLINE_POOL_MIN_SIZE": "1", "STOCKLINE_POOL_MAX_SIZE": "2"}
    )
    shop = make_shop(server)
    product = shop.create_product(stock=100)
    streams = [EventCollector(server.url, token=shop.kiosk_token) for _ in range(10)]
    try:
        for stream in streams:
            stream.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        assert _metric(server, "stockline_sse_subscribers") == 10
        with shop.kiosk() as c:
            for _ in range(5):  # the API still gets connections
                resp = c.post(
                    "/api/purchases",
                    json={"items": [{"product_id": product["id"], "quantity": 1}]},
                    timeout=5,
                )
                assert resp.status_code == 201
        for stream in streams:
            stream.wait_events(5)
        assert _metric(server, "stockline_sse_events_delivered_total") >= 50
        health = httpx.get(server.url + "/healthz", timeout=10).json()
        assert health["events"]["hub"]["subscribers"] == 10
    finally:
        for stream in streams:
            stream.close()
    deadline = time.monotonic() + 10
    while _metric(server, "stockline_sse_subscribers") != 0:
        assert time.monotonic() < deadline, "closed streams still counted"
        time.sleep(0.1)
