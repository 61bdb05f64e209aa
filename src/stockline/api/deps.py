"""Request-scoped collaborators: a pooled connection and the authenticated caller."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from stockline.alerts import Worker
from stockline.auth import Principal, authenticate
from stockline.config import Settings
from stockline.db.listen import Listener
from stockline.errors import Forbidden, NotAuthenticated
from stockline.events.service import EventsService
from stockline.inventory.purchase_batch import PurchaseBatcher
from stockline.system_config import ConfigCache

SESSION_COOKIE = "stockline_session"
KIOSK_COOKIE = "stockline_kiosk"
CSRF_COOKIE = "stockline_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Services:
    """Everything a process builds in its lifespan (app.build_services); handlers reach
    it through app.state. Built whole before anything starts, so no field is optional."""

    settings: Settings
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    listener: Listener
    config: ConfigCache
    worker: Worker
    events: EventsService
    purchases: PurchaseBatcher


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_conn(services: ServicesDep) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    # pool connections are autocommit (db/pool.py): each command's own
    # `conn.transaction()` is a real BEGIN/COMMIT that ends before the response is sent
    async with services.pool.connection() as conn:
        yield conn


# scope="function": the connection goes back to the pool before the response is sent
# (connections are autocommit, so each command's transaction committed already)
Conn = Annotated[psycopg.AsyncConnection[Any], Depends(get_conn, scope="function")]


def _credentials(request: Request) -> tuple[str, bool] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    for cookie in (SESSION_COOKIE, KIOSK_COOKIE):
        token = request.cookies.get(cookie)
        if token:
            return token, True
    return None


async def get_principal(request: Request, conn: Conn) -> Principal:
    found = _credentials(request)
    if found is None:
        raise NotAuthenticated()
    token, via_cookie = found
    principal = await authenticate(conn, token, via_cookie=via_cookie)
    if via_cookie and request.method not in _SAFE_METHODS:
        _check_csrf(request, principal)
    return principal


def _check_csrf(request: Request, principal: Principal) -> None:
    if not csrf_valid(request, principal.csrf_token):
        raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")


def csrf_valid(request: Request, session_token: str | None) -> bool:
    """A cookie rides along on cross-site requests; a header the attacker cannot read or
    set does not. Admins must echo their session's token (session_token); kiosks, which
    have none, the double-submit cookie."""
    sent = request.headers.get(CSRF_HEADER, "")
    expected = session_token or request.cookies.get(CSRF_COOKIE, "")
    return bool(sent and expected and hmac.compare_digest(sent, expected))


def kiosk_credentials(request: Request) -> str | None:
    """The kiosk token of a request whose credentials are a kiosk's and need no more
    checks than the token itself (a cookie's CSRF header is right); else None, and
    get_principal decides (and answers 401 or 403 in its own order)."""
    found = _credentials(request)
    if found is None or not found[0].startswith("kiosk_"):
        return None
    token, via_cookie = found
    if via_cookie and not csrf_valid(request, None):
        return None
    return token


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.kind != "admin":
        raise Forbidden("this needs an admin")
    return principal


async def require_kiosk_or_admin(
    principal: Annotated[Principal, Depends(get_principal)],
) -> Principal:
    return principal


async def get_principal_briefly(request: Request, services: ServicesDep) -> Principal:
    """get_principal on a connection given back at once, for a handler that takes its own
    and must not hold two (api/purchasing.py)."""
    async with services.pool.connection() as conn:
        return await get_principal(request, conn)


Admin = Annotated[Principal, Depends(require_admin)]
AnyPrincipal = Annotated[Principal, Depends(require_kiosk_or_admin)]
PrincipalBriefly = Annotated[Principal, Depends(get_principal_briefly)]
