"""Short-lived signed tokens for `?token=` on the event stream.

Browsers' EventSource cannot send an Authorization header, and a long-lived
bearer token in a URL ends up in proxy logs. So a signed-in page asks for a
token that names its principal and expires within a minute; any process of any
instance verifies it with the key stored in the database.

An admin's token also names the session it was issued for (a prefix of the session's
token hash): a password reset or a logout deletes the session, so a token issued before
it no longer opens a stream (auth.authenticate_stream_token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any, Literal

import psycopg

from stockline.db.queries import load

_Q = load("auth")
PREFIX = "evt_"
KEY_NAME = "event_stream_token"
Kind = Literal["admin", "kiosk"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    key: bytes, kind: Kind, principal_id: int, ttl_seconds: float, session: bytes = b""
) -> str:
    expires_ms = int((time.time() + ttl_seconds) * 1000)
    body = f"{kind}:{principal_id}:{expires_ms}:{secrets.token_hex(4)}:{session.hex()}"
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return PREFIX + _b64(body.encode()) + "." + _b64(mac)


def verify(key: bytes, token: str) -> tuple[Kind, int, bytes] | None:
    """(kind, id, session) of a genuine, unexpired token; None for anything else."""
    if not token.startswith(PREFIX) or len(token) > 512:
        return None
    body_b64, _, mac_b64 = token[len(PREFIX) :].partition(".")
    try:
        body = _unb64(body_b64)
        mac = _unb64(mac_b64)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    try:
        kind, principal_id, expires, _nonce, session = body.decode().split(":")
        if kind not in ("admin", "kiosk") or int(expires) < time.time() * 1000:
            return None
        return ("admin" if kind == "admin" else "kiosk"), int(principal_id), bytes.fromhex(session)
    except ValueError:
        return None


async def load_key(conn: psycopg.AsyncConnection[Any]) -> bytes:
    async with conn.transaction():
        await conn.execute(
            _Q["insert_signing_key"], {"name": KEY_NAME, "secret": secrets.token_bytes(32)}
        )
        cur = await conn.execute(_Q["select_signing_key"], {"name": KEY_NAME})
        row = await cur.fetchone()
    assert row is not None
    return bytes(row["secret"])
