"""Where the digest schedule meets the database: the stored slots the breach trigger reads
(migration 0005), rewritten when the schedule changes and topped up by the leader, and the
claim of due digest notifications into one unit per mail (SPEC §7.4)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from stockline.alerts.digest import SLOT_DAYS, DigestConfig, next_digest_at, upcoming_slots
from stockline.alerts.notifications import Claimed
from stockline.db.queries import load

_Q = load("alerts")


async def apply_schedule(
    conn: psycopg.AsyncConnection[Any], cfg: DigestConfig, now: datetime
) -> None:
    """In the caller's transaction: new slots, and what waits for a digest follows the
    new schedule (or, digest off, goes out now)."""
    await conn.execute(_Q["lock_digest_slots"])
    await conn.execute(_Q["delete_digest_slots"])
    slots = upcoming_slots(cfg, now)
    if slots:
        await conn.execute(_Q["insert_digest_slots"], {"slots": slots})
    if cfg.enabled:
        await conn.execute(_Q["update_digest_waiting"], {"next_at": next_digest_at(cfg, now)})
    else:
        await conn.execute(_Q["update_digest_released"])


async def top_up(conn: psycopg.AsyncConnection[Any], cfg: DigestConfig, now: datetime) -> bool:
    """The leader keeps at least half of SLOT_DAYS of slots ahead. True if it wrote."""
    if not cfg.enabled:
        return False
    cur = await conn.execute(_Q["select_digest_horizon"])
    row = await cur.fetchone()
    horizon = row["horizon"] if row else None
    if horizon is not None and horizon > now + timedelta(days=SLOT_DAYS / 2):
        return False
    async with conn.transaction():
        await conn.execute(_Q["lock_digest_slots"])
        await conn.execute(_Q["delete_past_digest_slots"])
        slots = upcoming_slots(cfg, now)
        if slots:
            await conn.execute(_Q["insert_digest_slots"], {"slots": slots})
    return True


async def form_units(
    conn: psycopg.AsyncConnection[Any], claimed: Sequence[Claimed]
) -> dict[int, tuple[str, list[Claimed]]]:
    """Group claimed digest rows into mails: rows retried keep their unit (and its
    Message-ID); rows due for the first time become one new unit together."""
    fresh = [c for c in claimed if c.digest_id is None]
    units: dict[int, list[Claimed]] = {}
    async with conn.transaction():
        if fresh:
            message_id = f"<digest.{secrets.token_hex(12)}@stockline>"
            cur = await conn.execute(_Q["insert_digest"], {"message_id": message_id})
            row = await cur.fetchone()
            assert row is not None
            digest_id = int(row["id"])
            await conn.execute(
                _Q["update_digest_members"],
                {"digest_id": digest_id, "ids": [c.id for c in fresh]},
            )
            units[digest_id] = list(fresh)
        for c in claimed:
            if c.digest_id is not None:
                units.setdefault(c.digest_id, []).append(c)
        cur = await conn.execute(_Q["select_digest_message_ids"], {"ids": list(units)})
        ids = {int(r["id"]): str(r["message_id"]) for r in await cur.fetchall()}
    return {d: (ids[d], members) for d, members in units.items()}
