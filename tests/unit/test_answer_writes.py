"""A response's head goes out with its body in one write (api/http_protocol.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from stockline.api.http_protocol import _HeadWithBody

T = TypeVar("T")


def _on_own_loop(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on a fresh loop in its own thread: the browser tests' session-wide
    Playwright keeps a loop running on the main thread, where ``asyncio.run`` refuses."""

    async def wrapped() -> T:
        return await main()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrapped()).result()


class Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def _run(steps: Any) -> Recording:
    async def main() -> Recording:
        t = Recording()
        steps(_HeadWithBody(t, asyncio.get_running_loop()))  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        return t

    return _on_own_loop(main)


def test_an_answer_written_in_one_step_goes_out_as_one_write() -> None:
    def steps(w: _HeadWithBody) -> None:
        w.hold_next_write()
        w.write(b"HTTP/1.1 201 Created\r\n\r\n")
        w.write(b'{"ok":true}')

    assert _run(steps).writes == [b'HTTP/1.1 201 Created\r\n\r\n{"ok":true}']


def test_writes_after_the_held_head_go_straight_through() -> None:
    async def main() -> list[bytes]:
        t = Recording()
        w = _HeadWithBody(t, asyncio.get_running_loop())  # type: ignore[arg-type]
        w.hold_next_write()
        w.write(b"head")
        await asyncio.sleep(0)  # the step ends: the head leaves alone
        assert t.writes == [b"head"]
        w.write(b"frame 1")  # a stream's later frames are not held
        assert t.writes == [b"head", b"frame 1"]
        return t.writes

    assert _on_own_loop(main) == [b"head", b"frame 1"]


def test_close_sends_what_is_held_first_and_nothing_after() -> None:
    def steps(w: _HeadWithBody) -> None:
        w.hold_next_write()
        w.write(b"head")
        w.write(b"body")
        w.close()

    t = _run(steps)
    assert t.writes == [b"headbody"]
    assert t.closed


def test_everything_else_is_the_transport_itself() -> None:
    def steps(w: _HeadWithBody) -> None:
        assert w.get_extra_info("peername") == ("127.0.0.1", 1)
        assert not w.is_closing()
        w.write(b"unheld")

    assert _run(steps).writes == [b"unheld"]
