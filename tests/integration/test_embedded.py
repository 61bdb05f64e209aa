"""No DATABASE_URL: the embedded PostgreSQL 18 starts, keeps its data, and stops on exit."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.server import free_port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "STOCKLINE_DATA_DIR": str(data_dir)}


def _postgres_running(pgdata: Path) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or []):
            return True
    return False


def _launch(args: list[str], data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m stockline ARGS` on the embedded database, output to log_path."""
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "stockline", *args],
            env=_env(data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _assert_postgres_stops(pgdata: Path) -> None:
    deadline = time.monotonic() + 20
    while _postgres_running(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _postgres_running(pgdata)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "stockline-data"
    path.mkdir()
    return path


def test_embedded_database_keeps_data_between_runs_and_stops_after(data_dir: Path) -> None:
    first = subprocess.run(
        [sys.executable, "-m", "stockline", "kiosk", "create", "one"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert first.returncode == 0, first.stderr
    assert "embedded PostgreSQL ready" in first.stderr
    pgdata = data_dir / "pgdata"
    assert (pgdata / "PG_VERSION").read_text().strip() == "18"
    assert not _postgres_running(pgdata)

    port = free_port()
    log_path = data_dir.parent / "serve.log"
    server = _launch(["serve", "--port", str(port), "--workers", "2"], data_dir, log_path)
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, log_path.read_text()[-3000:]
        token = subprocess.run(
            [sys.executable, "-m", "stockline", "kiosk", "create", "two"],
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()
        # the kiosk made by the first run and this one both work: the data was kept
        resp = httpx.get(
            f"http://127.0.0.1:{port}/api/products", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200
        # the second CLI process attached to the running server without stopping it
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        output = log_path.read_text()
    assert server.returncode == 0, output[-3000:]
    assert re.search(r'"mode": "embedded", "pgdata": "[^"]+"', output)
    _assert_postgres_stops(pgdata)


def test_demo_prints_working_credentials_and_stops_its_database(data_dir: Path) -> None:
    port = free_port()
    log_path = data_dir.parent / "demo.log"
    demo = _launch(["demo", "--port", str(port), "--simulate", "0"], data_dir, log_path)
    try:
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline and "kiosk token:" not in text:
            time.sleep(0.2)
            text = log_path.read_text()
        email = re.search(r"email\s+: (\S+)", text)
        password = re.search(r"password\s+: (\S+)", text)
        token = re.search(r"kiosk token: (\S+)", text)
        assert email and password and token, text[-3000:]
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        login = httpx.post(
            base + "/api/auth/login", json={"email": email.group(1), "password": password.group(1)}
        )
        assert login.status_code == 200
        products = httpx.get(
            base + "/api/products", headers={"Authorization": f"Bearer {token.group(1)}"}
        ).json()
        assert len(products) >= 5
        assert any(p["low_stock_threshold"] is not None for p in products)
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    assert demo.returncode == 0, log_path.read_text()[-3000:]
    _assert_postgres_stops(data_dir / "pgdata")
