"""The owner of a process's background tasks: names them, logs a death, stops them bounded.

Every long-running loop (listener, config refresh, feed, leader, worker, …) is
started here by name. A loop that ends on its own, by an exception or by
returning, is logged with that name: nothing dies silently. `stop` cancels all
of them and waits at most `timeout` seconds; a task that swallowed its
cancellation (seen with psycopg_pool on Python 3.11, which can hand a
connection to a cancelled waiter) is reported by name instead of hanging the
process's shutdown forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class TaskOwner:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already running")

        async def body() -> None:
            await run()

        task = asyncio.create_task(body(), name=name)
        self._tasks[name] = task
        task.add_done_callback(self._ended)
        return task

    def stopping(self) -> None:
        """From now on a loop that ends is part of the shutdown, not a death."""
        self._stopping = True

    @property
    def names(self) -> list[str]:
        return [name for name, task in self._tasks.items() if not task.done()]

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            if not self._stopping:
                log.error(
                    "background task cancelled",
                    extra={"action": "task_died", "task": task.get_name(), "error": "cancelled"},
                )
            return
        exc = task.exception()
        if exc is None:
            if not self._stopping:
                log.error(
                    "background task returned",
                    extra={"action": "task_died", "task": task.get_name(), "error": None},
                )
            return
        log.error(
            "background task died",
            extra={"action": "task_died", "task": task.get_name(), "error": type(exc).__name__},
            exc_info=exc,
        )

    async def stop(self, grace_seconds: float) -> list[str]:
        """Cancel every task; return the names of those still running after the grace."""
        self._stopping = True
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        survivors = sorted(task.get_name() for task in pending)
        if survivors:
            log.error(
                "background tasks survived cancellation",
                extra={"action": "tasks_survived", "tasks": ",".join(survivors)},
            )
        return survivors


def exit_process(line: str, code: int = 1) -> None:
    """One line on stderr, then exit at once (1 unless told): no cleanup that could hang
    again."""
    with contextlib.suppress(Exception):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    os._exit(code)


def exit_unless_done(seconds: float, line: Callable[[], str], code: int = 1) -> Callable[[], None]:
    """Arm a watchdog thread that calls `exit_process(line())` after `seconds` unless the
    returned disarm function is called first. A thread, not a task: it fires even when
    the event loop is stuck or a task ignores every cancellation."""
    timer = threading.Timer(seconds, lambda: exit_process(line(), code))
    timer.daemon = True
    timer.name = "stockline-shutdown-watchdog"
    timer.start()
    return timer.cancel
