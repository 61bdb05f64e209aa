"""Who is calling: admins (argon2id passwords, sessions) and kiosks (hashed tokens)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeVar

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg_pool import AsyncConnectionPool

from stockline import stream_tokens
from stockline.db.queries import load
from stockline.errors import NotAuthenticated, TooManyAttempts

_Q = load("auth")
T = TypeVar("T")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Spent on unknown emails too, so response time does not reveal which admins exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    kind: Literal["admin", "kiosk"]
    id: int
    name: str
    csrf_token: str | None = None
    via_cookie: bool = False
    # an admin's session (a prefix of its token hash): streams end when it does
    session: bytes = b""

    @property
    def stream_owner(self) -> StreamOwner:
        return StreamOwner(self.kind, self.id, self.session)


class StreamOwner(NamedTuple):
    """The credentials an event stream was opened with."""

    kind: str
    id: int
    session: bytes


@dataclass(frozen=True)
class Session:
    access_token: str
    csrf_token: str
    admin_id: int
    email: str


def token_hash(token: str) -> bytes:
    # tokens are 256-bit random strings: a fast hash is enough, unlike passwords
    return hashlib.sha256(token.encode()).digest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def create_admin(conn: psycopg.AsyncConnection[Any], email: str, password: str) -> int:
    """Create an admin, or reset its password; a reset ends all of its sessions."""
    async with conn.transaction():
        cur = await conn.execute(
            _Q["insert_admin"], {"email": email, "password_hash": hash_password(password)}
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(_Q["delete_admin_sessions"], {"admin_id": row["id"]})
    return int(row["id"])


async def ensure_admin(conn: psycopg.AsyncConnection[Any], email: str, password: str) -> int:
    """Like create_admin, but an enabled admin whose password already matches is left
    alone, so a restarted demo does not end the sessions of people logged in."""
    cur = await conn.execute(_Q["select_admin_by_email"], {"email": email})
    row = await cur.fetchone()
    if row is not None and not row["disabled"] and _verify_sync(row["password_hash"], password):
        return int(row["id"])
    return await create_admin(conn, email, password)


async def kiosk_for_token(conn: psycopg.AsyncConnection[Any], token: str) -> int | None:
    """The id of the active kiosk holding this token, if any."""
    cur = await conn.execute(_Q["select_kiosk_by_token"], {"token_hash": token_hash(token)})
    row = await cur.fetchone()
    return None if row is None else int(row["id"])


async def list_kiosks(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    cur = await conn.execute(_Q["select_kiosks"])
    return list(await cur.fetchall())


async def revoke_kiosk(conn: psycopg.AsyncConnection[Any], kiosk_id: int) -> str | None:
    """Disable a kiosk: its token stops working on the next request. Its name, or None."""
    async with conn.transaction():
        cur = await conn.execute(_Q["disable_kiosk"], {"kiosk_id": kiosk_id})
        row = await cur.fetchone()
    return None if row is None else str(row["name"])


async def create_kiosk(conn: psycopg.AsyncConnection[Any], name: str) -> tuple[int, str]:
    token = "kiosk_" + secrets.token_urlsafe(32)
    async with conn.transaction():
        cur = await conn.execute(
            _Q["insert_kiosk"], {"name": name, "token_hash": token_hash(token)}
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row["id"]), token


async def login(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    *,
    email: str,
    password: str,
    address: str,
    max_failures: int,
    window_seconds: float,
    session_hours: int,
) -> Session:
    # The attempt is counted as a failure *before* the (slow, memory-hungry) hash check
    # and the count is taken under a per-address lock: a burst of concurrent guesses from
    # one address gets at most `max_failures` checks, never one per request.
    # No pooled connection is held during the hash check: a login flood waiting for hash
    # slots must not starve purchases and streams of connections.
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_Q["lock_login_address"], {"address": address})
        cur = await conn.execute(
            _Q["select_recent_failures"], {"address": address, "window": window_seconds}
        )
        failures = await cur.fetchone()
        assert failures is not None
        if failures["n"] >= max_failures:
            elapsed = (datetime.now(UTC) - failures["oldest"]).total_seconds()
            raise TooManyAttempts(retry_after=max(1, int(window_seconds - elapsed) + 1))
        await conn.execute(_Q["insert_failure"], {"address": address})
        cur = await conn.execute(_Q["select_admin_by_email"], {"email": email})
        admin = await cur.fetchone()

    stored_hash = admin["password_hash"] if admin else _DUMMY_HASH
    ok = await _verify(stored_hash, password) and admin is not None and not admin["disabled"]
    if not ok or admin is None:
        raise NotAuthenticated("wrong email or password")

    access_token = "adm_" + secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(24)
    new_hash = None
    if _hasher.check_needs_rehash(stored_hash):
        new_hash = await _off_loop(hash_password, password)
    async with pool.connection() as conn, conn.transaction():
        if new_hash is not None:
            await conn.execute(
                _Q["update_admin_password_hash"],
                {"admin_id": admin["id"], "password_hash": new_hash},
            )
        await conn.execute(
            _Q["insert_session"],
            {
                "token_hash": token_hash(access_token),
                "admin_id": admin["id"],
                "csrf_token": csrf_token,
                "hours": session_hours,
            },
        )
        # clears this attempt's own pessimistic failure row too
        await conn.execute(_Q["delete_failures"], {"address": address, "window": window_seconds})
    return Session(access_token, csrf_token, int(admin["id"]), str(admin["email"]))


# argon2id takes ~0.1 s of CPU and 64 MiB: run it off the event loop (streams, purchases
# and health checks stay responsive during a login flood) and at most two at a time.
_HASH_SLOTS = asyncio.Semaphore(2)


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    async with _HASH_SLOTS:
        return await asyncio.to_thread(fn, *args)


def _verify_sync(stored_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


async def _verify(stored_hash: str, password: str) -> bool:
    return await _off_loop(_verify_sync, stored_hash, password)


async def logout(conn: psycopg.AsyncConnection[Any], access_token: str) -> None:
    async with conn.transaction():
        await conn.execute(_Q["delete_session"], {"token_hash": token_hash(access_token)})


async def authenticate(
    conn: psycopg.AsyncConnection[Any], token: str, *, via_cookie: bool = False
) -> Principal:
    digest = token_hash(token)
    if token.startswith("adm_"):
        cur = await conn.execute(_Q["select_session"], {"token_hash": digest})
        row = await cur.fetchone()
        if row is not None:
            return Principal(
                "admin",
                int(row["admin_id"]),
                str(row["email"]),
                csrf_token=str(row["csrf_token"]),
                via_cookie=via_cookie,
                session=digest[:SESSION_REF_BYTES],
            )
    elif token.startswith("kiosk_"):
        cur = await conn.execute(_Q["select_kiosk_by_token"], {"token_hash": digest})
        row = await cur.fetchone()
        if row is not None:
            return Principal("kiosk", int(row["id"]), str(row["name"]), via_cookie=via_cookie)
    raise NotAuthenticated("invalid or expired credentials")


SESSION_REF_BYTES = 8


async def authenticate_stream_token(
    conn: psycopg.AsyncConnection[Any], key: bytes, token: str
) -> Principal:
    """The principal of a `?token=` whose credentials still hold: a revoked kiosk, a
    disabled admin, or a session ended by logout or a password reset opens nothing."""
    found = stream_tokens.verify(key, token)
    if found is not None:
        kind, principal_id, session = found
        if kind == "admin":
            params = {"id": principal_id, "ref": session}
            cur = await conn.execute(_Q["select_admin_session_by_ref"], params)
        else:
            cur = await conn.execute(_Q["select_active_kiosk"], {"id": principal_id})
        row = await cur.fetchone()
        if row is not None:
            return Principal(kind, int(row["id"]), str(row["name"]), session=session)
    raise NotAuthenticated("invalid or expired stream token")


async def valid_stream_owners(
    conn: psycopg.AsyncConnection[Any], owners: list[StreamOwner]
) -> set[StreamOwner]:
    """Which of these stream credentials still hold (the others' streams must end)."""
    if not owners:
        return set()
    cur = await conn.execute(
        _Q["select_valid_stream_owners"],
        {
            "kinds": [o.kind for o in owners],
            "ids": [o.id for o in owners],
            "refs": [o.session for o in owners],
        },
    )
    return {StreamOwner(r["kind"], int(r["id"]), bytes(r["ref"])) for r in await cur.fetchall()}
