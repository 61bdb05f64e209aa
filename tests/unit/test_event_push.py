"""Live frames pushed to idle streams by the hub, and the direct body writer
(events/hub.py, api/http_protocol.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from stockline.api.http_protocol import DirectBody
from stockline.events.frames import event_frame
from stockline.events.hub import Hub, Subscriber


def _live(hub: Hub) -> Subscriber:
    sub = hub.subscribe()
    assert hub.resume(sub, hub.last_id)
    return sub


def _frames(*ids: int) -> list[Any]:
    return [event_frame(i, "stock-updated", f'{{"n": {i}}}') for i in ids]


def test_an_idle_stream_is_pushed_its_frames_in_order_and_not_woken() -> None:
    hub = Hub(16)
    hub.start(0)
    sub = _live(hub)
    sent: list[int] = []

    def push() -> bool:
        sent.extend(f.id for f in hub.take(sub) or [])
        return True

    sub.push, sub.idle = push, True
    hub.publish(_frames(1, 2))
    hub.publish(_frames(3))
    assert sent == [1, 2, 3]
    assert not sub.wake.is_set()
    assert hub.take(sub) == []  # nothing left for the stream's own task


def test_a_busy_stream_is_woken_and_takes_its_frames_itself() -> None:
    hub = Hub(16)
    hub.start(0)
    sub = _live(hub)
    pushed: list[int] = []
    sub.push = lambda: bool(pushed.append(1)) or True
    sub.idle = False  # its task holds frames it has not sent yet
    hub.publish(_frames(1))
    assert pushed == []
    assert sub.wake.is_set()
    assert [f.id for f in hub.take(sub) or []] == [1]


def test_a_declined_push_wakes_the_stream_with_nothing_taken() -> None:
    hub = Hub(16)
    hub.start(0)
    sub = _live(hub)
    sub.push, sub.idle = (lambda: False), True  # the connection holds back writes
    hub.publish(_frames(1, 2))
    assert sub.wake.is_set()
    assert [f.id for f in hub.take(sub) or []] == [1, 2]


def test_a_push_that_fails_is_not_tried_again_and_the_stream_is_woken() -> None:
    hub = Hub(16)
    hub.start(0)
    broken, healthy = _live(hub), _live(hub)
    calls: list[str] = []

    def fail() -> bool:
        calls.append("broken")
        raise OSError("connection reset")

    def ok() -> bool:
        calls.append("healthy")
        hub.take(healthy)
        return True

    broken.push, broken.idle = fail, True
    healthy.push, healthy.idle = ok, True
    hub.publish(_frames(1))
    assert broken.wake.is_set() and broken.push is None
    assert not healthy.wake.is_set()  # one broken connection does not stop the fan-out
    hub.publish(_frames(2))
    assert sorted(calls) == ["broken", "healthy", "healthy"]


def test_a_stream_still_replaying_is_neither_pushed_nor_woken() -> None:
    hub = Hub(16)
    hub.start(0)
    sub = hub.subscribe()  # not resumed yet: reading the table
    sub.push, sub.idle = (lambda: (_ for _ in ()).throw(AssertionError("pushed"))), True
    hub.publish(_frames(1))
    assert not sub.wake.is_set()


def test_a_subscriber_too_far_behind_is_dropped_not_pushed() -> None:
    hub = Hub(2)
    hub.start(0)
    sub = _live(hub)
    sub.push, sub.idle = (lambda: False), True
    hub.publish(_frames(1, 2))  # declined: its window holds 2
    hub.publish(_frames(3))  # one more than the window: dropped
    assert sub.reason == "slow"


class _Transport:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def is_closing(self) -> bool:
        return self.closing


def _cycle(**state: Any) -> Any:
    base: dict[str, Any] = {
        "response_started": True,
        "response_complete": False,
        "disconnected": False,
        "chunked_encoding": True,
        "flow": SimpleNamespace(write_paused=False),
        "transport": _Transport(),
    }
    return SimpleNamespace(**{**base, **state})


def test_the_direct_body_writes_one_http_chunk_per_write() -> None:
    cycle = _cycle()
    body = DirectBody(cycle)
    assert body.ready()
    body.write(b"id: 1\nevent: stock-updated\ndata: {}\n\n")
    assert cycle.transport.data == [b"25\r\nid: 1\nevent: stock-updated\ndata: {}\n\n\r\n"]


def test_the_direct_body_declines_whenever_asgi_would_not_write_now() -> None:
    assert not DirectBody(_cycle(response_started=False)).ready()
    assert not DirectBody(_cycle(response_complete=True)).ready()
    assert not DirectBody(_cycle(disconnected=True)).ready()
    assert not DirectBody(_cycle(chunked_encoding=False)).ready()
    assert not DirectBody(_cycle(flow=SimpleNamespace(write_paused=True))).ready()
    closing = _cycle()
    closing.transport.closing = True
    assert not DirectBody(closing).ready()
