"""SSE frames: every byte a stream sends is built here, once per event.

A Frame is serialised by whoever publishes it (the feed, or a replay read) and then
shared by every subscriber that sends it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Frame:
    id: int
    data: bytes  # the complete SSE frame: "id: …\nevent: …\ndata: …\n\n"


def event_frame(event_id: int, event: str, data: str) -> Frame:
    # one `data:` line per line of data, as the SSE grammar requires
    lines = data.split("\n")
    body = "".join(f"data: {line}\n" for line in lines)
    return Frame(event_id, f"id: {event_id}\nevent: {event}\n{body}\n".encode())


def state_frame(event: str, position: int, inventory_json: str, extra: dict[str, str]) -> Frame:
    """A `snapshot` or `reset` event: the inventory (JSON text from PostgreSQL, spliced in
    without re-encoding) at `position`, which is also the frame's id."""
    fields = [*(f'"{k}": {v}' for k, v in extra.items())]
    fields.append(f'"last_event_id": {position}')
    fields.append(f'"inventory": {inventory_json}')
    return event_frame(position, event, "{" + ", ".join(fields) + "}")


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def retry_hint(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


HEARTBEAT = comment("heartbeat")
