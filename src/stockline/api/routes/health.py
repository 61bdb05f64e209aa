"""/healthz and /metrics"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from stockline import metrics
from stockline.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    responses={
        200: {"description": "database, listener and worker state"},
        503: {
            "description": "the database is unreachable (same body, status 'unavailable')",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def healthz(services: ServicesDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "instance_id": services.settings.instance_id}
    try:
        async with asyncio.timeout(services.settings.db_connect_timeout):
            async with services.pool.connection() as conn:
                await conn.execute("SELECT 1")
        body["database"] = "ok"
    except Exception:
        body["database"] = "unreachable"
        body["status"] = "unavailable"
    body["listener"] = services.listener.state
    body["config"] = services.config.health()
    body["worker"] = services.worker.health()
    body["events"] = services.events.health()
    status = 200 if body["database"] == "ok" else 503
    return JSONResponse(body, status_code=status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def prometheus_metrics() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
