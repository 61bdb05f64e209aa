"""Load and observers shared by the fault tests: purchase threads that record every
answer and how long it took, and an SSE subscriber that resumes with Last-Event-ID."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg

from tests.fixtures.db import settled_last_event_id
from tests.fixtures.sse import EventCollector


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer at all (connection refused/reset, timeout)
    content_type: str
    transaction_id: int | None
    error: str = ""


@dataclass
class PurchaseLoad:
    """`threads` kiosks buying one unit of `product_id` in a loop until stopped."""

    base_url: str
    token: str
    product_id: int
    threads: int = 3
    pause: float = 0.02
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]

    def start(self) -> PurchaseLoad:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                body = {"items": [{"product_id": self.product_id, "quantity": 1}]}
                try:
                    resp = client.post(
                        "/api/purchases", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
                    )
                    tx = resp.json().get("transaction_id") if resp.status_code == 201 else None
                    answer = Answer(
                        started,
                        time.monotonic() - started,
                        resp.status_code,
                        resp.headers.get("content-type", ""),
                        tx,
                        "" if resp.status_code == 201 else resp.text[:300],
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(started, time.monotonic() - started, None, "", None, repr(exc))
                with self._lock:
                    self.answers.append(answer)
                time.sleep(self.pause)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def created(self) -> list[int]:
        return [a.transaction_id for a in self.snapshot() if a.transaction_id is not None]

    def wait_successes(self, count: int, after: float = 0.0, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = [a for a in self.snapshot() if a.status == 201 and a.started >= after]
            if len(ok) >= count:
                return
            time.sleep(0.05)
        tail = self.snapshot()[-5:]
        raise AssertionError(f"fewer than {count} purchases succeeded; last answers: {tail}")


class ResumingSubscriber:
    """An EventSource-like client: when its stream ends (or cannot open), it reconnects
    with Last-Event-ID set to the last id it received, as browsers do."""

    def __init__(self, base_url: str, token: str, retry_seconds: float = 0.3) -> None:
        self._base_url = base_url
        self._token = token
        self._retry = retry_seconds
        self.streams: list[EventCollector] = [EventCollector(base_url, token=token)]
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @property
    def ids(self) -> list[int]:
        return [i for s in self.streams for i in s.ids]

    def wait_banner(self, timeout: float = 15) -> None:
        self.streams[0].wait_for(lambda s: bool(s.parser.comments), timeout, "stream banner")

    def _watch(self) -> None:
        while not self._stop.is_set():
            current = self.streams[-1]
            if not current.ended.wait(0.1):
                continue
            if self._stop.is_set():
                return
            time.sleep(self._retry)
            ids = self.ids
            headers = {"Last-Event-ID": str(ids[-1])} if ids else None
            try:
                stream = EventCollector(self._base_url, token=self._token, headers=headers)
            except TimeoutError:
                continue
            self.reconnects += 1
            self.streams.append(stream)

    def wait_for_id(self, event_id: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.ids
            if ids and ids[-1] >= event_id:
                return
            time.sleep(0.05)
        raise AssertionError(
            f"subscriber never reached event {event_id}: last ids {self.ids[-10:]}, "
            f"reconnects {self.reconnects}, statuses {[s.status for s in self.streams][-5:]}"
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for stream in self.streams:
            stream.close()


def last_event_id(db_url: str) -> int:
    return settled_last_event_id(db_url)


def transactions_without_ledger(db_url: str, transaction_ids: list[int]) -> list[int]:
    """Acknowledged purchases (201) whose ledger rows are missing."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT t.id FROM unnest(%s::bigint[]) AS t(id)"
            " WHERE NOT EXISTS (SELECT 1 FROM inventory_ledger l WHERE l.transaction_id = t.id)",
            (transaction_ids,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def run_verify(db_url: str) -> subprocess.CompletedProcess[str]:
    """`stockline verify` against db_url, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "stockline", "verify"],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
