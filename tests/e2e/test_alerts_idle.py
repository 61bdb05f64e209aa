"""An idle mail worker sleeps until it is woken or its poll is due."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def test_idle_leader_does_not_spin_between_polls(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(fresh_db, env={"STOCKLINE_WORKER_POLL_SECONDS": "30"})

    def worker() -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(server.url + "/healthz").json()["worker"]
        return body

    deadline = time.monotonic() + 10
    while not (worker()["is_leader"] and worker()["last_batch_at"]):
        assert time.monotonic() < deadline, "never led"
        time.sleep(0.1)
    first = worker()["last_batch_at"]
    time.sleep(1.5)
    # an empty queue means "sleep until woken or polled", not "look again at once"
    assert worker()["last_batch_at"] == first
