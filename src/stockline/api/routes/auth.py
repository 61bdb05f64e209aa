"""Login, logout and kiosk pairing."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from stockline import auth
from stockline.api.deps import (
    CSRF_COOKIE,
    KIOSK_COOKIE,
    SESSION_COOKIE,
    AnyPrincipal,
    Conn,
    ServicesDep,
)
from stockline.api.schemas import KioskPairIn, LoginIn, LoginOut, MeOut
from stockline.errors import Forbidden

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=LoginOut)
async def login(
    body: LoginIn, request: Request, response: Response, services: ServicesDep
) -> LoginOut:
    settings = services.settings
    session = await auth.login(
        services.pool,
        email=body.email,
        password=body.password,
        address=_client_address(request),
        max_failures=settings.login_max_failures,
        window_seconds=settings.login_window_seconds,
        session_hours=settings.session_hours,
    )
    max_age = settings.session_hours * 3600
    # the body holds a bearer token: no cache (browser, proxy) may keep it (RFC 6749 5.1)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.set_cookie(
        SESSION_COOKIE,
        session.access_token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    # readable by the portal's script, which echoes it in X-CSRF-Token
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return LoginOut(
        access_token=session.access_token, csrf_token=session.csrf_token, expires_in=max_age
    )


@router.post("/logout", status_code=204)
async def logout(
    request: Request, response: Response, conn: Conn, principal: AnyPrincipal
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if token and principal.kind == "admin":
        await auth.logout(conn, token)
    out = Response(status_code=204)
    for name in (SESSION_COOKIE, KIOSK_COOKIE, CSRF_COOKIE):
        out.delete_cookie(name, path="/")
    return out


@router.post("/kiosk", status_code=204)
async def pair_kiosk(body: KioskPairIn, conn: Conn, services: ServicesDep) -> Response:
    """Pair a browser with a kiosk token: stores it in an HttpOnly cookie."""
    principal = await auth.authenticate(conn, body.token)
    if principal.kind != "kiosk":
        raise Forbidden("this is not a kiosk token")
    out = Response(status_code=204)
    secure = services.settings.cookie_secure
    out.set_cookie(
        KIOSK_COOKIE,
        body.token,
        max_age=365 * 86400,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    out.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=365 * 86400,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return out


@router.get("/me", response_model=MeOut)
async def me(principal: AnyPrincipal) -> MeOut:
    return MeOut(kind=principal.kind, id=principal.id, name=principal.name)
