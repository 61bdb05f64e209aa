"""Shared bench plumbing: a database, a migrated schema, a running `serve`, a lean HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from stockline.auth import hash_password, token_hash
from stockline.db.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"
    )


@contextlib.contextmanager
def database() -> Iterator[tuple[str, str]]:
    """(admin url, url of a fresh migrated database) on DATABASE_URL or an embedded PG 18."""
    admin = os.environ.get("DATABASE_URL")
    handle = None
    if not admin:
        from stockline.db.embedded import start_embedded

        handle = start_embedded(Path(tempfile.mkdtemp(prefix="stockline-bench-")), cleanup="delete")
        admin = handle.url
    name = f"stockline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    url = make_conninfo(**params)  # type: ignore[arg-type]
    migrate(url)
    try:
        yield admin, url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        import psutil

        parent = psutil.Process(self.process.pid)
        return [parent.pid] + [c.pid for c in parent.children(recursive=True)]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def serve(db_url: str, workers: int = 2, env: dict[str, str] | None = None) -> Served:
    import httpx

    port = free_port()
    log = open(tempfile.mkstemp(prefix="stockline-bench-serve-", suffix=".log")[1], "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stockline",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env={
            **os.environ,
            "DATABASE_URL": db_url,
            "STOCKLINE_LOG_LEVEL": "WARNING",
            # a bench opens thousands of streams on one kiosk's token
            "STOCKLINE_MAX_STREAMS_PER_PRINCIPAL": "100000",
            "STOCKLINE_LIMIT_CONCURRENCY": "20000",
            **(env or {}),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Served(port, proc)
        time.sleep(0.2)
    raise RuntimeError(f"serve did not come up; see {log.name}")


def make_kiosk(db_url: str) -> str:
    token = "kiosk_" + uuid.uuid4().hex + uuid.uuid4().hex
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO kiosks (name, token_hash) VALUES ('bench', %s)", (token_hash(token),)
        )
    return token


def make_admin(db_url: str) -> tuple[str, str]:
    email, password = f"bench-{uuid.uuid4().hex[:6]}@shop.example.com", "bench password"
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO admins (email, password_hash) VALUES (%s, %s)",
            (email, hash_password(password)),
        )
    return email, password


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class LeanHttp:
    """A keep-alive HTTP/1.1 client with almost no per-request CPU, so the load generator
    steals as little as possible from the server on a 2-core machine."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(payload)}",
            "Content-Type: application/json",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            self.writer.write(request)
            status_line = await self.reader.readline()
            if status_line:
                break
            # the server closed an idle keep-alive connection before reading this
            # request: open a new one and send it again (once)
            await self.close()
            self.reader = self.writer = None
            if attempt == 2:
                raise ConnectionResetError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
