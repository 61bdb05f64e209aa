"""The admin portal and the kiosk: server-rendered shells, driven by our own static JS.

The pages hold no data: their scripts call the JSON API with the session (or kiosk)
cookie and follow `/api/inventory/events`. Everything is served from here (no CDN), and
the CSP forbids inline script, so templates only link files under /static.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import Scope

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"
# The portal's ES modules are refused by browsers unless served as JavaScript (and
# X-Content-Type-Options: nosniff is on); don't depend on the host's mime.types.
mimetypes.add_type("text/javascript", ".js")
# What the kiosk's service worker keeps for a reload without the server (SPEC §7.5).
KIOSK_ASSETS = (
    "app.css",
    "common.js",
    "kiosk-store.js",
    "kiosk-find.js",
    "kiosk-idle.js",
    "kiosk.js",
    "favicon.svg",
)
KIOSK_SW_SCOPE = "/kiosk"

router = APIRouter(include_in_schema=False)


@cache
def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["static_url"] = static_url
    return templates


@cache
def static_url(name: str) -> str:
    # a content hash in the URL: browsers may cache a file forever, a new release still loads
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


class _StaticFiles(StaticFiles):
    """Hashed URLs (`?v=`) are cached for good; the rest is revalidated on every load.

    The portal's modules import each other by plain relative URL (admin/main.js has the
    hash, ./store.js has none), so an upgrade must never leave a stale module cached.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = (
                "public, max-age=31536000, immutable" if versioned else "no-cache"
            )
        return response


def static_files() -> StaticFiles:
    return _StaticFiles(directory=str(STATIC_DIR))


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    currency = request.app.state.services.settings.currency
    response = _templates().TemplateResponse(request, template, {"currency": currency, **context})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=RedirectResponse)
async def root() -> RedirectResponse:
    return RedirectResponse("/admin", status_code=303)


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request) -> HTMLResponse:
    return _page(request, "admin.html")


@router.get("/kiosk", response_class=HTMLResponse)
async def kiosk_page(request: Request) -> HTMLResponse:
    settings = request.app.state.services.settings
    return _page(
        request,
        "kiosk.html",
        idle_seconds=f"{settings.kiosk_idle_seconds:g}",
        sw_url="/kiosk/sw.js",
        sw_scope=KIOSK_SW_SCOPE,
    )


@cache
def _kiosk_service_worker() -> bytes:
    # The worker learns the hashed asset URLs from a first line written here; its version
    # follows the shell's bytes, so a new release installs a new worker and a new cache.
    assets = [static_url(name) for name in KIOSK_ASSETS]
    shell = (TEMPLATES_DIR / "kiosk.html").read_bytes() + "".join(assets).encode()
    worker = (STATIC_DIR / "kiosk-sw.js").read_bytes()
    version = hashlib.sha256(shell + worker).hexdigest()[:12]
    prelude = "self.STOCKLINE_SHELL = " + json.dumps(
        {"version": version, "page": KIOSK_SW_SCOPE, "assets": assets}
    )
    return prelude.encode() + b";\n" + worker


@router.get("/kiosk/sw.js")
async def kiosk_service_worker() -> Response:
    return Response(
        _kiosk_service_worker(),
        media_type="text/javascript",
        headers={
            # the browser checks for a new worker on each visit; never serve a stale one
            "Cache-Control": "no-cache",
            # the script sits under /kiosk/ but controls the page /kiosk itself
            "Service-Worker-Allowed": KIOSK_SW_SCOPE,
        },
    )
