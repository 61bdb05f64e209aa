"""/healthz and /metrics"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client.core import GaugeMetricFamily

from stockline import cluster_metrics, metrics
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
async def prometheus_metrics(services: ServicesDep) -> Response:
    extra = []
    ok = 1
    try:
        async with asyncio.timeout(services.settings.db_connect_timeout * 2):
            async with services.pool.connection() as conn:
                extra = await cluster_metrics.collect(conn)
    except Exception:
        ok = 0  # the process's own figures still answer; the shop's are missing this time
    extra.append(
        GaugeMetricFamily(
            "stockline_database_figures_ok",
            "1 when this scrape could read the shop's figures from the database",
            ok,
        )
    )
    payload, content_type = metrics.render(extra)
    return Response(payload, media_type=content_type)
