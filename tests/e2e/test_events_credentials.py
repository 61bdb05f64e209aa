"""Event streams end with their credentials (issue 10 item 9): a revoked kiosk, a disabled
admin and a password reset end open streams within 5 s, a stream token issued before the
reset opens nothing, streams per principal are capped; and without nginx in front, a
client that dribbles its headers is cut off and the server caps its connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import psycopg

from tests.fixtures.server import Shop, make_kiosk, make_shop
from tests.fixtures.sse import EventCollector

ENDS_WITHIN = 5.0


def _cli(db_url: str, *args: str, stdin: str = "") -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "stockline", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _kiosk_id(db_url: str, token_name: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT max(id) FROM kiosks WHERE name = %s", (token_name,)).fetchone()
    assert row is not None
    return int(row[0])


def _open(url: str, **kwargs: Any) -> EventCollector:
    stream = EventCollector(url, **kwargs)
    assert stream.status == 200, stream.body_text
    stream.wait_for(lambda s: bool(s.parser.comments), what="stream open")
    return stream


def _ends_soon(stream: EventCollector) -> float:
    started = time.monotonic()
    assert stream.ended.wait(ENDS_WITHIN + 5), "the stream stayed open"
    took = time.monotonic() - started
    assert took < ENDS_WITHIN, took
    assert any("revoked" in text for _, text in stream.parser.comments)
    return took


def _stream_token(shop: Shop, bearer: str) -> str:
    resp = httpx.post(
        shop.server.url + "/api/inventory/events/token",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def test_revoking_a_kiosk_ends_its_open_streams_within_5_seconds(shop: Shop) -> None:
    token = make_kiosk(shop.db_url, "to be revoked")
    stream_token = _stream_token(shop, token)
    by_header = _open(shop.server.url, token=token)
    by_token = _open(shop.server.url, params={"token": stream_token})
    other = _open(shop.server.url, token=shop.kiosk_token)
    try:
        _cli(shop.db_url, "kiosk", "revoke", str(_kiosk_id(shop.db_url, "to be revoked")))
        _ends_soon(by_header)
        _ends_soon(by_token)
        assert not other.ended.is_set()  # another kiosk's stream is untouched
        again = EventCollector(shop.server.url, params={"token": stream_token})
        assert again.status == 401
        again.close()
    finally:
        for s in (by_header, by_token, other):
            s.close()


def test_disabling_an_admin_ends_its_streams(shop: Shop) -> None:
    stream = _open(shop.server.url, token=shop.admin_token)
    try:
        with psycopg.connect(shop.db_url) as conn:
            conn.execute("UPDATE admins SET disabled = true WHERE email = %s", (shop.admin_email,))
        _ends_soon(stream)
    finally:
        stream.close()
        with psycopg.connect(shop.db_url) as conn:
            conn.execute("UPDATE admins SET disabled = false WHERE email = %s", (shop.admin_email,))


def test_a_password_reset_ends_streams_and_voids_stream_tokens_issued_before_it(
    fresh_db: str, server_factory: Any
) -> None:
    shop = make_shop(server_factory(fresh_db))
    stream_token = _stream_token(shop, shop.admin_token)
    by_session = _open(shop.server.url, token=shop.admin_token)
    by_token = _open(shop.server.url, params={"token": stream_token})
    try:
        _cli(
            fresh_db,
            "admin",
            "create",
            shop.admin_email,
            "--password-stdin",
            stdin="new pw 12345\n",
        )
        _ends_soon(by_session)
        _ends_soon(by_token)
    finally:
        by_session.close()
        by_token.close()
    # the token has not expired (60 s), but the session it was issued for is gone
    late = EventCollector(shop.server.url, params={"token": stream_token})
    try:
        assert late.status == 401
    finally:
        late.close()


def test_streams_per_principal_are_capped_with_a_429_problem(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, workers=1, env={"STOCKLINE_MAX_STREAMS_PER_PRINCIPAL": "3"})
    shop = make_shop(server)
    streams = [_open(server.url, token=shop.kiosk_token) for _ in range(3)]
    try:
        over = httpx.get(
            server.url + "/api/inventory/events",
            headers={"Authorization": f"Bearer {shop.kiosk_token}"},
            timeout=10,
        )
        assert over.status_code == 429
        assert over.headers["content-type"].startswith("application/problem+json")
        assert over.json()["status"] == 429
        # another principal is not affected; closing one frees a place
        _open(server.url, token=shop.admin_token).close()
        streams.pop().close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            again = EventCollector(server.url, token=shop.kiosk_token)
            if again.status == 200:
                streams.append(again)
                break
            again.close()
            time.sleep(0.1)
        assert streams[-1].status == 200 and len(streams) == 3
    finally:
        for s in streams:
            s.close()


def _closed_by_server(sock: socket.socket, within: float, dribble: bytes = b"") -> float:
    started = time.monotonic()
    sock.settimeout(0.25)
    for byte in dribble:  # one header byte at a time, each well inside any idle timeout
        if time.monotonic() - started > within + 5:
            break
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - started
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
    deadline = started + within + 5
    while time.monotonic() < deadline:
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    raise AssertionError("the server kept the connection open")


def test_a_client_that_dribbles_its_headers_is_cut_off_without_nginx(
    fresh_db: str, server_factory: Any
) -> None:
    server = server_factory(fresh_db, workers=1, env={"STOCKLINE_HEADER_TIMEOUT_SECONDS": "1.5"})
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port)) as silent:
        assert _closed_by_server(silent, 1.5) < 1.5 + 3
    slow_headers = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 200
    with socket.create_connection((host, port)) as slow:
        assert _closed_by_server(slow, 1.5, dribble=slow_headers) < 1.5 + 3
    # a normal client, and a keep-alive connection between requests, are not affected
    with httpx.Client(base_url=server.url, timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        time.sleep(0.5)
        assert c.get("/healthz").status_code == 200


def test_each_worker_caps_its_concurrent_connections(fresh_db: str, server_factory: Any) -> None:
    server = server_factory(
        fresh_db,
        workers=1,
        env={"STOCKLINE_LIMIT_CONCURRENCY": "16", "STOCKLINE_MAX_STREAMS_PER_PRINCIPAL": "100"},
    )
    shop = make_shop(server)
    streams: list[EventCollector] = []
    try:
        refused = None
        for _ in range(20):
            stream = EventCollector(server.url, token=shop.kiosk_token)
            if stream.status != 200:
                refused = stream.status
                stream.close()
                break
            streams.append(stream)
        assert refused == 503
        assert 10 <= len(streams) < 16
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the places come back once the streams end
        try:
            if httpx.get(server.url + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not accept connections again")
