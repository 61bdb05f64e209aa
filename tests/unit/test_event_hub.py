"""The hub's bookkeeping of who holds streams, and the one Last-Event-ID parser."""

from __future__ import annotations

import pytest

from stockline.errors import InvalidInput, TooManyStreams
from stockline.events.frames import event_frame, state_frame
from stockline.events.hub import Hub
from stockline.events.stream import resume_position


def test_a_principal_over_its_cap_is_refused_and_a_closed_stream_frees_a_place() -> None:
    hub = Hub(10, max_per_principal=2)
    first = hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    with pytest.raises(TooManyStreams):
        hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    hub.subscribe(("kiosk", 2, b""), ("kiosk", 2))  # someone else is not affected
    hub.unsubscribe(first)
    hub.unsubscribe(first)  # twice (stream close after a drop) frees one place only
    hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    with pytest.raises(TooManyStreams):
        hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))


def test_the_cap_counts_every_session_of_one_admin() -> None:
    hub = Hub(10, max_per_principal=2)
    hub.subscribe(("admin", 7, b"a"), ("admin", 7))
    hub.subscribe(("admin", 7, b"b"), ("admin", 7))
    with pytest.raises(TooManyStreams):
        hub.subscribe(("admin", 7, b"c"), ("admin", 7))


def test_ending_revoked_credentials_ends_only_their_streams_and_frees_their_places() -> None:
    hub = Hub(10, max_per_principal=1)
    revoked = hub.subscribe(("admin", 7, b"old"), ("admin", 7))
    other = hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    assert set(hub.owners()) == {("admin", 7, b"old"), ("kiosk", 1, b"")}
    assert hub.end_owners([("admin", 7, b"old")]) == 1
    assert revoked.reason == "revoked" and revoked.wake.is_set()
    assert hub.take(revoked) is None  # the stream ends on its next wake-up
    assert other.reason is None
    assert hub.owners() == [("kiosk", 1, b"")]
    hub.subscribe(("admin", 7, b"new"), ("admin", 7))  # the place is free again


def test_a_slow_subscriber_dropped_by_the_hub_frees_its_place() -> None:
    hub = Hub(2, max_per_principal=1)
    hub.start(0)
    slow = hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))
    assert hub.resume(slow, 0)
    hub.publish([event_frame(i, "stock-updated", "{}") for i in range(1, 5)])
    assert slow.reason == "slow"
    hub.subscribe(("kiosk", 1, b""), ("kiosk", 1))


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [
        (None, None, None),
        ("", None, None),
        ("  ", 5, 5),
        ("12", None, 12),
        (" 12 ", "3", 12),  # the header (EventSource's reconnect) wins over the URL
        (None, "3", 3),
        (None, 0, 0),
        (str(2**63 - 1), None, 2**63 - 1),
    ],
)
def test_resume_position_takes_the_header_first_then_the_query(
    header: str | None, query: str | int | None, expected: int | None
) -> None:
    assert resume_position(header, query) == expected


@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", "²", "1e3", str(2**63), "9" * 40])
def test_resume_position_refuses_anything_but_an_event_id(bad: str) -> None:
    with pytest.raises(InvalidInput):
        resume_position(bad, None)
    with pytest.raises(InvalidInput):
        resume_position(None, bad)


def test_a_state_frame_carries_its_position_as_id_and_the_inventory_verbatim() -> None:
    frame = state_frame("snapshot", 42, '[{"product_id": 1}]', {"reason": '"retention"'})
    assert frame.id == 42
    assert frame.data == (
        b"id: 42\nevent: snapshot\n"
        b'data: {"reason": "retention", "last_event_id": 42, "inventory": [{"product_id": 1}]}\n\n'
    )
