"""Admins and kiosks managed through the API (SPEC 7.3): create, disable, reset, revoke.

Every request looks its credentials up again (auth.authenticate), so disabling takes
effect on the next request; disabling an admin or resetting a password also deletes
their sessions, so a stolen session token stops working too.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from email_validator import EmailNotValidError, validate_email
from psycopg.rows import class_row

from stockline.auth import hash_password, token_hash
from stockline.db.queries import load
from stockline.errors import Conflict, InvalidInput, NotFound

_Q = load("people")


@dataclass(frozen=True)
class AdminAccount:
    id: int
    email: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class KioskAccount:
    id: int
    name: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class NewKiosk(KioskAccount):
    token: str  # shown once, in the creating answer; only its hash is stored


def _email(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"invalid email address: {address!r}",
            errors=[{"loc": ["body", "email"], "msg": str(exc), "type": "value_error"}],
        ) from None


async def list_admins(conn: psycopg.AsyncConnection[Any]) -> list[AdminAccount]:
    async with conn.cursor(row_factory=class_row(AdminAccount)) as cur:
        await cur.execute(_Q["select_admins"])
        return await cur.fetchall()


async def create_admin(
    conn: psycopg.AsyncConnection[Any], *, email: str, password: str
) -> AdminAccount:
    normalized = _email(email)
    # argon2 costs ~50 ms of CPU: off the event loop, before the transaction holds anything
    password_hash = await asyncio.to_thread(hash_password, password)
    async with conn.transaction(), conn.cursor(row_factory=class_row(AdminAccount)) as cur:
        await cur.execute(
            _Q["insert_admin_account"], {"email": normalized, "password_hash": password_hash}
        )
        row = await cur.fetchone()
    if row is None:
        raise Conflict(f"an admin with email {normalized!r} already exists")
    return row


async def update_admin(
    conn: psycopg.AsyncConnection[Any],
    admin_id: int,
    *,
    disabled: bool | None,
    password: str | None,
    acting_admin_id: int,
) -> AdminAccount:
    if disabled and admin_id == acting_admin_id:
        # the last admin could lock everyone out; another admin must do it
        raise Conflict("you cannot disable your own account")
    password_hash = None if password is None else await asyncio.to_thread(hash_password, password)
    async with conn.transaction(), conn.cursor(row_factory=class_row(AdminAccount)) as cur:
        await cur.execute(
            _Q["update_admin_account"],
            {"admin_id": admin_id, "disabled": disabled, "password_hash": password_hash},
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"admin {admin_id} does not exist")
        if disabled or password is not None:
            await cur.execute(_Q["delete_sessions_of_admin"], {"admin_id": admin_id})
    return row


async def list_kiosks(conn: psycopg.AsyncConnection[Any]) -> list[KioskAccount]:
    async with conn.cursor(row_factory=class_row(KioskAccount)) as cur:
        await cur.execute(_Q["select_kiosk_accounts"])
        return await cur.fetchall()


async def create_kiosk(conn: psycopg.AsyncConnection[Any], *, name: str) -> NewKiosk:
    token = "kiosk_" + secrets.token_urlsafe(32)
    async with conn.transaction(), conn.cursor(row_factory=class_row(KioskAccount)) as cur:
        await cur.execute(
            _Q["insert_kiosk_account"], {"name": name, "token_hash": token_hash(token)}
        )
        row = await cur.fetchone()
    assert row is not None
    return NewKiosk(row.id, row.name, row.created_at, row.disabled, token)


async def update_kiosk(
    conn: psycopg.AsyncConnection[Any], kiosk_id: int, *, disabled: bool | None, name: str | None
) -> KioskAccount:
    async with conn.transaction(), conn.cursor(row_factory=class_row(KioskAccount)) as cur:
        await cur.execute(
            _Q["update_kiosk_account"], {"kiosk_id": kiosk_id, "disabled": disabled, "name": name}
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"kiosk {kiosk_id} does not exist")
    return row
