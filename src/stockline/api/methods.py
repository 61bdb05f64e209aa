"""HEAD wherever GET is served, and a 405 whose Allow names every method of its path.

FastAPI's routes answer only the methods they are declared with: `HEAD /healthz` was a
405, and a 405's Allow named the methods of the first route whose path matched
(`PUT /api/products/1` said `Allow: GET`, though PATCH is served there too). RFC 9110
asks for HEAD wherever GET is (§9.3.2) and for an Allow that lists what the target
supports (§15.5.6); monitors and proxies probe with HEAD.

- `HeadAsGet` runs a HEAD as the GET of the same target, on a copy of the scope. uvicorn
  reads the method from its own scope, which stays HEAD, so it sends GET's status and
  headers (Content-Length included) and no body. An endless answer is the exception:
  the event stream never ends, so a HEAD there would hold its connection for good; it
  stays a 405 (`Allow: GET`).
- `allowed_methods` is what every 405's Allow says (problems.py uses it).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

# answers that never end: no HEAD for them (tests/unit keeps this in step with the stream)
ENDLESS = frozenset({"/api/inventory/events"})


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"] in ENDLESS:
            await self.app(scope, receive, send)
            return
        inner = {**scope, "method": "GET"}
        try:
            await self.app(inner, receive, send)
        finally:
            if "route" in inner:  # what Observe labels the request's metrics with
                scope["route"] = inner["route"]


# what a route of this service may be declared with (HEAD follows from GET)
_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """The Allow header for a 405 at scope's path: every method a route there serves.
    Asked of the routes themselves (`matches`, per method), so routers included in
    routers answer for their own routes."""
    methods = {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if "GET" in methods and scope.get("path") not in ENDLESS:
        methods.add("HEAD")
    return ", ".join(sorted(methods))
