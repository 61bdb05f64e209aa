"""GET /api/inventory/events (SSE) and POST /api/inventory/events/token.

Registered before the inventory router, so `/api/inventory/{product_id}` does
not take `events` for a product id. A plainly valid stream request is answered by
api/event_stream.py's fast path before it reaches this route; the route answers the
rest, with problem+json where they fail. Either way the stream authenticates on a
short-lived pooled connection and then holds none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from stockline import stream_tokens
from stockline.api.deps import AnyPrincipal, ServicesDep
from stockline.api.event_stream import EventStreamResponse, open_stream
from stockline.api.schemas import ID_MAX, Text
from stockline.events.stream import resume_position

router = APIRouter(prefix="/api/inventory", tags=["events"])


class EventTokenOut(BaseModel):
    token: str
    token_type: str = "stream"  # noqa: S105 - a kind of token, not a secret
    expires_in: int
    url: str


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: stock-updated, tracking-toggled, "
            "threshold-breach, threshold-cleared (and snapshot, reset); see docs/events.md",
            "content": {"text/event-stream": {}},
        },
    },
)
async def inventory_events(
    request: Request,
    services: ServicesDep,
    last_event_id: Annotated[int | None, Query(ge=0, le=ID_MAX)] = None,
    snapshot: Annotated[bool, Query()] = False,
    token: Annotated[Text | None, Query(max_length=512)] = None,
    last_event_id_header: Annotated[Text | None, Header(alias="last-event-id")] = None,
) -> StreamingResponse:
    after = resume_position(last_event_id_header, last_event_id)
    return EventStreamResponse(await open_stream(request, services, after, snapshot, token))


@router.post("/events/token", response_model=EventTokenOut)
async def events_token(principal: AnyPrincipal, services: ServicesDep) -> EventTokenOut:
    ttl = services.settings.sse_token_seconds
    key = await services.events.signing_key()
    token = stream_tokens.issue(key, principal.kind, principal.id, ttl, principal.session)
    return EventTokenOut(
        token=token, expires_in=int(ttl), url=f"/api/inventory/events?token={token}"
    )
