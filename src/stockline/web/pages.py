"""The admin portal and the kiosk: server-rendered shells, driven by our own static JS.

The pages hold no data: their scripts call the JSON API with the session (or kiosk)
cookie and follow `/api/inventory/events`. Everything is served from here (no CDN), and
the CSP forbids inline script, so templates only link files under /static.
"""

from __future__ import annotations

import hashlib
import mimetypes
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import Scope

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"
CURRENCY = "EUR"
# The portal's ES modules are refused by browsers unless served as JavaScript (and
# X-Content-Type-Options: nosniff is on); don't depend on the host's mime.types.
mimetypes.add_type("text/javascript", ".js")

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


def _page(request: Request, template: str) -> HTMLResponse:
    response = _templates().TemplateResponse(request, template, {"currency": CURRENCY})
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
    return _page(request, "kiosk.html")
