"""Composition root: build the FastAPI app and wire each process's collaborators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from stockline import alerts
from stockline.api import problems
from stockline.api.deps import Services
from stockline.api.event_stream import EventStreamFastPath
from stockline.api.methods import HeadAsGet
from stockline.api.middleware import BodyLimit, Observe
from stockline.api.purchasing import PurchaseFastPath
from stockline.api.routes import (
    admin,
    catalogue,
    health,
    inventory,
    kiosk,
    notifications,
    people,
    products,
    purchases,
    stocktakes,
)
from stockline.api.routes import auth as auth_routes
from stockline.api.routes import events as events_routes
from stockline.config import Settings
from stockline.db.listen import Listener
from stockline.db.pool import make_pool
from stockline.db.queries import load
from stockline.events.service import EventsService, stop_on_signals
from stockline.inventory.ledger import prune_idempotency_keys
from stockline.inventory.purchase_batch import PurchaseBatcher
from stockline.logs import configure_logging
from stockline.system_config import ConfigCache
from stockline.tasks import TaskOwner, exit_process, exit_unless_done
from stockline.web import pages

log = logging.getLogger(__name__)
_AUTH_Q = load("auth")
# a loop that ignores cancellation for longer than this is reported by name
_TASK_STOP_SECONDS = 2.0
# the whole lifespan shutdown; after it a served process exits 1 whatever still runs
SHUTDOWN_SECONDS = 10.0


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


def build_services(settings: Settings) -> Services:
    """Build every component and wire the doorbells; nothing runs yet, nothing connects."""
    pool = make_pool(settings)
    listener = Listener(settings)
    config = ConfigCache(
        pool,
        seed_recipients=settings.admin_notification_emails,
        refresh_seconds=settings.config_refresh_seconds,
    )
    listener.subscribe("stockline_config", config.ring)
    # every process runs the mail worker; only the holder of the worker lock dispatches
    worker = alerts.build_worker(settings, pool, config)
    listener.subscribe(alerts.NOTIFICATIONS_CHANNEL, worker.ring)
    # events (S-11): hub + feed on the shared listener, retention
    events = EventsService(settings, pool, listener)
    events.attach(listener)
    return Services(
        settings=settings,
        pool=pool,
        listener=listener,
        config=config,
        worker=worker,
        events=events,
        purchases=PurchaseBatcher(
            pool, max_batch=settings.purchase_batch_max, numbering=events.positioner
        ),
    )


async def start(services: Services, tasks: TaskOwner) -> None:
    await _open_pool(services)
    tasks.start("listener", services.listener.run)
    tasks.start("config-refresh", services.config.run)
    tasks.start("housekeeping", lambda: _housekeeping(services))
    tasks.start("leader", services.worker.leader.run)
    tasks.start("worker", services.worker.run)
    for name, run in services.events.runners().items():
        tasks.start(name, run)
    # streams end on SIGTERM, before uvicorn waits for open responses
    stop_on_signals(asyncio.get_running_loop(), services.events.stop)


async def stop(services: Services, tasks: TaskOwner) -> list[str]:
    """Stop in reverse order of dependence; return the names of tasks that would not end."""
    tasks.stopping()
    services.events.stop()
    with contextlib.suppress(Exception):
        await services.worker.stop()
    with contextlib.suppress(Exception):
        await services.worker.leader.release()
    survivors = await tasks.stop(grace_seconds=_TASK_STOP_SECONDS)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_TASK_STOP_SECONDS):
            await services.purchases.close()
    await services.pool.close(timeout=2)
    return survivors


def served_app() -> FastAPI:
    """The app `stockline serve` runs: its shutdown is bounded by ending the process."""
    return create_app(exit_when_stuck=True)


def create_app(settings: Settings | None = None, *, exit_when_stuck: bool = False) -> FastAPI:
    """`exit_when_stuck`: when the shutdown takes longer than SHUTDOWN_SECONDS, or a
    background task survives its cancellation (which would hang the event loop's own
    close forever, e.g. psycopg_pool handing a connection to a cancelled waiter on
    Python 3.11), print one line and exit 1. Only for a process of its own: never in
    a test that runs the app in-process."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        services = build_services(settings)
        app.state.services = services
        tasks = TaskOwner()
        started = False
        try:
            await start(services, tasks)
            log.info(
                "instance started",
                extra={
                    "action": "instance_started",
                    "instance_id": settings.instance_id,
                    "host": settings.hostname,
                },
            )
            started = True
            yield {}
        finally:
            # a failed start-up ends the worker with uvicorn's STARTUP_FAILURE, so that
            # `serve --workers N` stops instead of restarting it (stockline.supervisor)
            code = 1 if started else STARTUP_FAILURE
            disarm = None
            if exit_when_stuck:
                disarm = exit_unless_done(
                    SHUTDOWN_SECONDS,
                    lambda: (
                        f"stockline: shutdown did not finish in {SHUTDOWN_SECONDS:g} s "
                        f"(still running: {', '.join(tasks.names) or 'no background task'}); "
                        "exiting"
                    ),
                    code,
                )
            survivors = await stop(services, tasks)
            log.info(
                "instance stopped",
                extra={"action": "instance_stopped", "instance_id": settings.instance_id},
            )
            if disarm is not None:
                if survivors:
                    exit_process(
                        "stockline: background tasks ignored their cancellation "
                        f"({', '.join(survivors)}); exiting",
                        code,
                    )
                disarm()

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
    problems.install(app)
    for router in (
        auth_routes.router,
        catalogue.router,
        products.router,
        purchases.router,
        stocktakes.router,
        events_routes.router,  # before inventory: /api/inventory/{product_id} must not take it
        inventory.router,
        admin.router,
        people.router,
        notifications.router,
        kiosk.router,
        health.router,
    ):
        app.include_router(router)
    # web pages: /admin, /kiosk and their static files
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")

    # innermost of ours: plainly valid purchases skip FastAPI's routing (api/purchasing.py)
    app.add_middleware(PurchaseFastPath)
    # the last added is the outermost: Observe wraps BodyLimit, so a 413 refused before
    # the app is reached still carries the security headers and is counted
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        per_path={"/api/products/import": settings.import_max_bytes},
    )
    # HEAD is served wherever GET is (api/methods.py); inside Observe, which counts it
    app.add_middleware(HeadAsGet)
    app.add_middleware(Observe)
    # outermost: long-lived event streams skip the per-request stack (see its docstring)
    app.add_middleware(EventStreamFastPath)
    return app
