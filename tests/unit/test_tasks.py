"""The task owner: names, a logged death, a bounded stop that names the survivors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from stockline.tasks import TaskOwner

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    # a loop of its own on a thread of its own: Playwright's sync API, used earlier in
    # the same session, can leave a running loop on the main thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _forever() -> None:
    await asyncio.Event().wait()


async def _swallows_cancellation() -> None:
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


def _deaths(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object]]:
    return [
        (str(vars(r)["task"]), vars(r)["error"])
        for r in caplog.records
        if vars(r).get("action") == "task_died"
    ]


def test_tasks_run_under_their_names_and_stop_cleanly() -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        owner = TaskOwner()
        task = owner.start("listener", _forever)
        owner.start("feed", _forever)
        await asyncio.sleep(0)
        names = owner.names
        survivors = await owner.stop(grace_seconds=1)
        assert task.get_name() == "listener"
        return names, survivors, owner.names

    names, survivors, after = _run(main())
    assert names == ["listener", "feed"] and survivors == [] and after == []


def test_a_task_that_dies_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise ConnectionError("lost")

    async def returns() -> None:
        return None

    async def main() -> None:
        owner = TaskOwner()
        owner.start("worker", boom)
        owner.start("config-refresh", returns)
        await asyncio.sleep(0.01)
        await owner.stop(grace_seconds=1)

    with caplog.at_level(logging.ERROR, logger="stockline.tasks"):
        _run(main())
    assert sorted(_deaths(caplog)) == [("config-refresh", None), ("worker", "ConnectionError")]


def test_a_loop_that_ends_during_the_shutdown_is_no_death(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        owner = TaskOwner()
        done = asyncio.Event()

        async def until_done() -> None:
            await done.wait()

        owner.start("worker", until_done)
        await asyncio.sleep(0)
        owner.stopping()
        done.set()
        await asyncio.sleep(0.01)
        await owner.stop(grace_seconds=1)

    with caplog.at_level(logging.ERROR, logger="stockline.tasks"):
        _run(main())
    assert _deaths(caplog) == []


def test_stop_is_bounded_and_names_a_task_that_ignores_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[list[str], float]:
        owner = TaskOwner()
        stuck = owner.start("events-feed", _swallows_cancellation)
        owner.start("listener", _forever)
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        survivors = await owner.stop(grace_seconds=0.2)
        took = loop.time() - began
        stuck.get_coro().close()  # type: ignore[union-attr]  # let asyncio.run finish
        return survivors, took

    with caplog.at_level(logging.ERROR, logger="stockline.tasks"):
        survivors, took = _run(main())
    assert survivors == ["events-feed"]
    assert took < 2
    assert any(vars(r).get("action") == "tasks_survived" for r in caplog.records)


def test_two_tasks_cannot_share_a_name() -> None:
    async def main() -> None:
        owner = TaskOwner()
        owner.start("worker", _forever)
        with pytest.raises(ValueError, match="worker"):
            owner.start("worker", _forever)
        await owner.stop(grace_seconds=1)

    _run(main())
