"""The naive reference for bench/sse.py: Starlette + sse-starlette, one process, one
asyncio.Queue per subscriber, an in-memory publisher, each event serialised per
subscriber. Run by bench/sse.py; not part of stockline.

    python bench/sse_reference.py --port 8100
    POST /start?rate=20  (events/s)   POST /stop   GET /stats
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

QUEUE_SIZE = 1000
subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
stats = {"published": 0, "dropped": 0}
publisher: asyncio.Task[None] | None = None


async def events(request: Request) -> EventSourceResponse:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
    subscribers.add(queue)

    async def stream() -> Any:
        try:
            while True:
                yield await queue.get()
        finally:
            subscribers.discard(queue)

    return EventSourceResponse(stream(), ping=15)


async def _publish(rate: float) -> None:
    seq = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    while True:
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        seq += 1
        # a payload the size and shape of stockline's stock-updated
        data = {
            "t": time.time(),
            "product_id": seq % 8 + 1,
            "current_stock": 1_000_000 - seq,
            "low_stock_flag": False,
            "negative_flag": False,
            "tracking_enabled": True,
            "last_activity_at": "2026-01-01T00:00:00.000000+00:00",
            "delta": -1,
            "source": "purchase",
        }
        for queue in list(subscribers):
            try:
                # a dict per subscriber: sse-starlette encodes it once per subscriber
                item = {"id": str(seq), "event": "stock-updated", "data": json.dumps(data)}
                queue.put_nowait(item)
            except asyncio.QueueFull:
                stats["dropped"] += 1
        stats["published"] += 1


async def start(request: Request) -> JSONResponse:
    global publisher
    rate = float(request.query_params.get("rate", "10"))
    if publisher is None:
        publisher = asyncio.create_task(_publish(rate))
    return JSONResponse({"started": rate})


async def stop(request: Request) -> JSONResponse:
    global publisher
    if publisher is not None:
        publisher.cancel()
        publisher = None
    return JSONResponse(stats)


async def get_stats(request: Request) -> JSONResponse:
    return JSONResponse({**stats, "subscribers": len(subscribers)})


app = Starlette(
    routes=[
        Route("/events", events),
        Route("/start", start, methods=["POST"]),
        Route("/stop", stop, methods=["POST"]),
        Route("/stats", get_stats),
    ]
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
