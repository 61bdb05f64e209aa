"""The feed publishes the events a NOTIFY carries (migration 0029) only when they follow
on from the hub's position; anything else makes it read the table."""

from __future__ import annotations

from typing import Any, cast

from stockline.events.feed import Feed, carried
from stockline.events.frames import event_frame
from stockline.events.hub import Hub

ONE = '{"product_id": 1, "stock": 4}'


def _payload(*ids: int) -> str:
    head = f"events/1 {ids[0]} {ids[-1]}"
    return head + "\n" + "\n".join(f"{i}\tstock-updated\t{ONE}" for i in ids)


def _feed(position: int | None, capacity: int = 100) -> tuple[Feed, Hub]:
    hub = Hub(capacity)
    if position is not None:
        hub.start(position)
    feed = Feed(cast(Any, None), hub)  # notified() never reads: the pool stays unused
    feed._wake.clear()  # as after the feed's first read
    return feed, hub


def test_a_payload_is_read_into_the_frames_a_table_read_would_build() -> None:
    frames = carried(_payload(7, 8))
    assert frames == [event_frame(7, "stock-updated", ONE), event_frame(8, "stock-updated", ONE)]


def test_what_is_not_a_whole_consecutive_payload_is_a_doorbell() -> None:
    for payload in (
        "",
        "events/1 7 7",
        "events/1 7 7\n",
        "events/1\n7\tstock-updated\t{}",  # no ids in the header
        "events/2 7 7\n7\tstock-updated\t{}",
        "events/1 7 7\n7\tstock-updated",  # a line without its data
        "events/1 7 7\nseven\tstock-updated\t{}",
        _payload(7, 9),  # not consecutive
        _payload(7, 8).replace("events/1 7 8", "events/1 7 9"),  # cut short
        _payload(7, 8).replace("events/1 7 8", "events/1 6 8"),  # ids not the header's
        "hello",
    ):
        assert carried(payload) is None, payload


def test_events_that_follow_the_hub_are_published_without_a_read() -> None:
    feed, hub = _feed(6)
    feed.notified(_payload(7, 8))
    assert hub.last_id == 8 and feed.carried == 1 and not feed._wake.is_set()
    feed.notified(_payload(8, 9))  # overlapping what a read in flight published
    assert hub.last_id == 9 and hub.published == 3 and not feed._wake.is_set()


def test_a_gap_an_empty_doorbell_or_a_hub_not_started_makes_the_feed_read() -> None:
    feed, hub = _feed(6)
    feed.notified(_payload(9, 10))  # 7 and 8 went in a doorbell this process missed
    assert hub.last_id == 6 and feed._wake.is_set()
    feed, hub = _feed(6)
    feed.notified("")
    assert feed._wake.is_set()
    feed, hub = _feed(None)
    feed.notified(_payload(1))
    assert not hub.ready.is_set() and feed._wake.is_set() and feed.carried == 0


def test_more_events_than_one_read_publishes_go_by_the_table() -> None:
    feed, hub = _feed(6, capacity=4)  # one read publishes at most 2 (half the window)
    feed.notified(_payload(7, 8, 9))
    assert hub.last_id == 6 and feed._wake.is_set()
    feed, hub = _feed(6, capacity=4)
    feed.notified(_payload(7, 8))
    assert hub.last_id == 8 and not feed._wake.is_set()


def test_a_publish_that_fails_falls_back_to_a_read_and_never_reaches_the_listener() -> None:
    feed, hub = _feed(6)

    def broken(frames: object) -> int:
        raise RuntimeError("a subscriber's callback failed")

    hub.publish = broken  # type: ignore[method-assign]
    feed.notified(_payload(7))  # does not raise into the shared listener's loop
    assert feed._wake.is_set() and feed.carried == 0
