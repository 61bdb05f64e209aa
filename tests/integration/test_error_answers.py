"""An exception nobody expected (fault injected into the real app): a problem+json 500
with the security headers, the keep-alive connection kept, the frames logged but not
the messages (they may quote what the client sent)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from stockline.app import create_app
from stockline.config import Settings
from tests.fixtures.server import free_port
from tests.integration.test_edge_input import _read_response

SECRET = "".join(["pass", "word-", "in-a-message"])  # built, so no source line shows it


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {vars(record)}")


@pytest.fixture
def faulty_app(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, _Collect]]:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    app = create_app(Settings())

    async def boom() -> None:
        raise RuntimeError(f"while handling {SECRET}")

    app.add_api_route("/boom", boom)
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield port, collect
    finally:
        server.should_exit = True
        thread.join(30)
        logging.getLogger().removeHandler(collect)


def test_an_unexpected_error_is_a_problem_500_with_headers_on_a_live_connection(
    faulty_app: tuple[int, _Collect],
) -> None:
    port, collect = faulty_app
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _read_response(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        second = _read_response(sock)
    head = first.split(b"\r\n\r\n")[0].lower()
    assert first.startswith(b"HTTP/1.1 500"), first[:300]
    assert b"content-type: application/problem+json" in head
    assert b"x-content-type-options: nosniff" in head
    assert b"content-security-policy:" in head
    assert b"connection: close" not in head
    assert b'"status":500' in first and SECRET.encode() not in first
    assert second.startswith(b"HTTP/1.1 200"), second[:300]
    logged = "\n".join(collect.lines)
    unhandled = [line for line in collect.lines if line.startswith("unhandled error ")]
    assert len(unhandled) == 1  # once: nothing re-raised it to uvicorn
    assert "test_error_answers.py" in logged and "RuntimeError" in logged
    assert SECRET not in logged
