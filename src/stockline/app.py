"""Composition root: build the FastAPI app and wire each process's collaborators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI

from stockline import alerts
from stockline.api import problems
from stockline.api.deps import Services
from stockline.api.middleware import BodyLimit, Observe
from stockline.api.routes import admin, health, inventory, notifications, products, purchases
from stockline.api.routes import auth as auth_routes
from stockline.api.routes import events as events_routes
from stockline.config import Settings
from stockline.db.listen import Listener
from stockline.db.pool import make_pool
from stockline.db.queries import load
from stockline.events import service as events_service
from stockline.inventory.ledger import prune_idempotency_keys
from stockline.logs import configure_logging
from stockline.system_config import ConfigCache
from stockline.web import pages

log = logging.getLogger(__name__)
_AUTH_Q = load("auth")


async def _housekeeping(services: Services) -> None:
    """Expired idempotency keys and sessions; harmless if several processes do it."""
    while True:
        try:
            async with services.pool.connection() as conn:
                await prune_idempotency_keys(conn, services.settings.idempotency_hours)
                await conn.execute(_AUTH_Q["delete_expired_sessions"])
        except Exception:
            log.warning("housekeeping failed", extra={"action": "housekeeping_failed"})
        await asyncio.sleep(600)


async def _as_coroutine(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


async def _open_pool(services: Services) -> None:
    pool = services.pool
    await pool.open(wait=False)
    try:
        await pool.wait(timeout=services.settings.db_connect_timeout * 3)
    except Exception:
        # keep serving: /healthz says 503 and the pool keeps trying in the background
        log.error(
            "database not reachable at start; retrying in the background",
            extra={"action": "db_unreachable_at_start"},
        )


async def _start_alerts(services: Services) -> list[Callable[[], Awaitable[None]]]:
    """Every process runs the mail worker; only the holder of the worker lock dispatches."""
    worker = alerts.build_worker(services.settings, services.pool, services.config)
    services.listener.subscribe(alerts.NOTIFICATIONS_CHANNEL, worker.ring)
    services.extras["worker"] = worker
    return [worker.leader.run, worker.run, worker.observe]


async def _stop_alerts(services: Services) -> None:
    worker = services.extras.get("worker")
    if isinstance(worker, alerts.Worker):
        await worker.stop()
        await worker.leader.release()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        pool = make_pool(settings)
        listener = Listener(settings)
        config = ConfigCache(
            pool,
            seed_recipients=settings.admin_notification_emails,
            refresh_seconds=settings.config_refresh_seconds,
        )
        listener.subscribe("stockline_config", config.ring)
        services = Services(settings=settings, pool=pool, listener=listener, config=config)
        services.extras["config"] = config
        app.state.services = services
        await _open_pool(services)
        tasks: list[asyncio.Task[None]] = []
        runners: list[Callable[[], Awaitable[None]]] = [
            listener.run,
            config.run,
            lambda: _housekeeping(services),
        ]
        for hook in app.state.startup_hooks:
            runners.extend(await hook(services))
        tasks = [asyncio.create_task(_as_coroutine(r)) for r in runners]
        log.info(
            "instance started",
            extra={
                "action": "instance_started",
                "instance_id": settings.instance_id,
                "host": settings.hostname,
            },
        )
        try:
            yield {}
        finally:
            for hook in app.state.shutdown_hooks:
                with contextlib.suppress(Exception):
                    await hook(services)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pool.close(timeout=2)
            log.info(
                "instance stopped",
                extra={"action": "instance_stopped", "instance_id": settings.instance_id},
            )

    app = FastAPI(
        title="stockline",
        version="0.1.0",
        summary="Inventory ledger, live stock events and low-stock alerting for kiosk shops",
        lifespan=lifespan,
        # Swagger UI would load its scripts from a CDN (the pages work offline and the CSP
        # allows only our own scripts); the machine-readable document stays.
        docs_url=None,
        redoc_url=None,
    )
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    app.state.startup_hooks.append(_start_alerts)
    app.state.shutdown_hooks.append(_stop_alerts)
    # events (S-11): hub + feed on the shared listener, retention; streams end on SIGTERM
    app.state.startup_hooks.append(events_service.startup)
    app.state.shutdown_hooks.append(events_service.shutdown)
    problems.install(app)
    for router in (
        auth_routes.router,
        products.router,
        purchases.router,
        events_routes.router,  # before inventory: /api/inventory/{product_id} must not take it
        inventory.router,
        admin.router,
        notifications.router,
        health.router,
    ):
        app.include_router(router)
    # web pages: /admin, /kiosk and their static files
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")

    # the last added is the outermost: Observe wraps BodyLimit, so a 413 refused before
    # the app is reached still carries the security headers and is counted
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe)
    # outermost: long-lived event streams skip the per-request stack (see its docstring)
    app.add_middleware(events_routes.EventStreamFastPath)
    return app
