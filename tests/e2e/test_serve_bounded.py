"""SPEC 7.1: `stockline serve` never hangs. Real `serve` processes; the fault (a background
loop that swallows its cancellation, as psycopg_pool's getconn can on Python 3.11) is
injected into the process before the CLI runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.server import FAST_ENV, Server, free_port, wait_healthy

# the loop the fault replaces: any named task of the app will do
_STUCK = textwrap.dedent(
    """
    import asyncio, sys
    import stockline.app, stockline.cli

    async def swallows_cancellation(services):
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass  # the bug under test: the task lives on

    stockline.app._housekeeping = swallows_cancellation
    if "--skip-port-check" in sys.argv:
        # lose the race the CLI's early check cannot win: the port is taken after it
        sys.argv.remove("--skip-port-check")
        stockline.cli.check_port_free = lambda host, port: None
    sys.exit(stockline.cli.main(sys.argv[1:]))
    """
)


def _serve(
    db_url: str, port: int, tmp_path: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"serve-{port}.log"
    env = {**os.environ, **FAST_ENV, "DATABASE_URL": db_url, "STOCKLINE_LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _STUCK, "serve", "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return process, log


def _wait_exit(process: subprocess.Popen[bytes], seconds: float) -> tuple[int, float]:
    started = time.monotonic()
    try:
        code = process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        pytest.fail(f"still running after {seconds} s")
    return code, time.monotonic() - started


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    wait_healthy(Server(f"http://127.0.0.1:{port}", port, "", process, log), timeout=60)


def _time_of(log: Path, needle: str) -> datetime:
    for line in log.read_text(errors="replace").splitlines():
        if needle in line:
            return datetime.fromisoformat(json.loads(line)["ts"])
    pytest.fail(f"no {needle!r} in the log")


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1]


def test_a_port_taken_after_the_early_check_ends_serve_within_10_s_despite_a_stuck_task(
    fresh_db: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        process, log = _serve(fresh_db, port, tmp_path, "--skip-port-check")
        code, took = _wait_exit(process, 30)
    ended = datetime.now(UTC)
    text = log.read_text(errors="replace")
    assert code != 0, text[-3000:]
    failed = _time_of(log, "address already in use")
    assert (ended - failed).total_seconds() < 10, (failed, ended, took, text[-3000:])
    assert _last_line(log) == (
        "stockline: background tasks ignored their cancellation (housekeeping); exiting"
    )
    assert "Traceback" not in text


def test_sigterm_ends_serve_within_its_bound_despite_a_stuck_task(
    fresh_db: str, tmp_path: Path
) -> None:
    port = free_port()
    process, log = _serve(fresh_db, port, tmp_path)
    _wait_healthy(port, process, log)
    process.send_signal(signal.SIGTERM)
    # uvicorn's 3 s for open requests, then at most 10 s for the components
    code, took = _wait_exit(process, 30)
    assert code != 0
    assert took < 14, took
    assert "ignored their cancellation (housekeeping)" in _last_line(log)


def test_a_port_in_use_ends_serve_at_once_with_one_line(fresh_db: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        process, log = _serve(fresh_db, port, tmp_path)
        code, took = _wait_exit(process, 30)
    assert code != 0 and took < 10, took
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    assert len(lines) == 1 and "already in use" in lines[0], lines


# `serve --workers N` runs the app in spawned worker processes, which do not inherit a
# patch made in the parent: the fault enters every process through sitecustomize (only
# workers run the app, so only they meet it)
_WORKER_FAULTS = textwrap.dedent(
    """
    import asyncio, os
    fault = os.environ.get("STOCKLINE_TEST_FAULT", "")
    if fault:
        import stockline.app

        async def swallows_cancellation(services):
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass

        if "stuck" in fault:
            stockline.app._housekeeping = swallows_cancellation
        if "fail-start" in fault:
            started = stockline.app.start

            async def start(services, tasks):
                await started(services, tasks)
                raise RuntimeError("injected start-up failure")

            stockline.app.start = start
    """
)


def _serve_workers(
    db_url: str, port: int, tmp_path: Path, fault: str
) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "sitecustomize.py").write_text(_WORKER_FAULTS)
    log = tmp_path / f"serve-{port}.log"
    env = {
        **os.environ,
        **FAST_ENV,
        "DATABASE_URL": db_url,
        "STOCKLINE_LOG_FORMAT": "json",
        "STOCKLINE_TEST_FAULT": fault,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stockline", "serve", "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return process, log


@pytest.mark.parametrize("fault", ["fail-start", "fail-start,stuck"])
def test_a_worker_that_fails_to_start_ends_serve_with_workers_non_zero_within_10_s(
    fresh_db: str, tmp_path: Path, fault: str
) -> None:
    """uvicorn's supervisor exited 0 after a worker's failed start-up, and restarted for
    ever a worker whose shutdown watchdog ended it (exit 1): a unit that looks alive."""
    process, log = _serve_workers(fresh_db, free_port(), tmp_path, fault)
    code, took = _wait_exit(process, 60)
    ended = datetime.now(UTC)
    text = log.read_text(errors="replace")
    assert code != 0, text[-3000:]
    failed = _time_of(log, "injected start-up failure")
    assert (ended - failed).total_seconds() < 10, (failed, ended, took, text[-3000:])
    assert "failed to start" in _last_line(log), text[-3000:]
    assert text.count("injected start-up failure") <= 2 * 2, "a failed worker was restarted"


@pytest.mark.parametrize("fault", ["", "stuck"])
def test_sigterm_ends_serve_with_workers_bounded_and_non_zero_only_when_a_worker_was_stuck(
    fresh_db: str, tmp_path: Path, fault: str
) -> None:
    port = free_port()
    process, log = _serve_workers(fresh_db, port, tmp_path, fault)
    _wait_healthy(port, process, log)
    process.send_signal(signal.SIGTERM)
    code, took = _wait_exit(process, 40)
    text = log.read_text(errors="replace")
    if not fault:
        assert code == 0, text[-3000:]
        assert took < 10, took
        return
    assert code != 0, text[-3000:]
    assert took < 20, took
    assert "ignored their cancellation (housekeeping)" in text
    assert "did not stop cleanly" in _last_line(log), text[-3000:]
