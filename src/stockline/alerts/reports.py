"""What the admin API reads about notifications: pages, one with its attempts, stats,
captured mail, and the one write, re-queuing a failed notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from stockline.alerts.leader import LeaderInfo, current_leader
from stockline.alerts.notifications import STATUSES
from stockline.db.queries import load
from stockline.errors import Conflict, NotFound

_Q = load("alerts")


@dataclass(frozen=True)
class NotificationRow:
    id: int
    type: str
    payload: dict[str, Any]
    status: str
    attempt_count: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    error_details: str | None
    message_id: str
    product_id: int | None
    threshold: int | None
    breach_open: bool
    created_at: datetime
    updated_at: datetime
    digest: bool
    digest_id: int | None
    channel_states: dict[str, str]


@dataclass(frozen=True)
class AttemptRow:
    id: int
    attempt_no: int
    channel: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    smtp_code: int | None
    smtp_reply: str | None
    http_status: int | None
    error: str | None
    instance_id: str | None


@dataclass(frozen=True)
class Stats:
    by_status: dict[str, int]
    total: int
    attempts: int
    attempts_by_outcome: dict[str, int]
    retries: int
    success_rate: float | None
    oldest_pending_age_seconds: float | None
    leader: LeaderInfo | None


@dataclass(frozen=True)
class CapturedMailRow:
    id: int
    notification_id: int | None
    message_id: str
    recipients: list[str]
    subject: str
    body_text: str
    body_html: str | None
    created_at: datetime


async def notifications_page(
    conn: psycopg.AsyncConnection[Any],
    *,
    status: str | None,
    type_: str | None,
    limit: int,
    before_id: int | None,
) -> list[NotificationRow]:
    async with conn.cursor(row_factory=class_row(NotificationRow)) as cur:
        await cur.execute(
            _Q["select_notifications_page"],
            {"status": status, "type": type_, "limit": limit, "before_id": before_id},
        )
        return await cur.fetchall()


async def get_notification(
    conn: psycopg.AsyncConnection[Any], notification_id: int
) -> tuple[NotificationRow, list[AttemptRow]]:
    async with conn.cursor(row_factory=class_row(NotificationRow)) as cur:
        await cur.execute(_Q["select_notification"], {"id": notification_id})
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"notification {notification_id} does not exist")
    async with conn.cursor(row_factory=class_row(AttemptRow)) as cur:
        await cur.execute(_Q["select_attempts"], {"id": notification_id})
        attempts = await cur.fetchall()
    return row, attempts


async def requeue_failed(
    conn: psycopg.AsyncConnection[Any], notification_id: int
) -> tuple[NotificationRow, list[AttemptRow]]:
    async with conn.transaction():
        cur = await conn.execute(_Q["update_requeue_failed"], {"id": notification_id})
        if await cur.fetchone() is None:
            row, _ = await get_notification(conn, notification_id)  # 404 if unknown
            raise Conflict(
                f"notification {notification_id} is {row.status!r}; only a failed "
                "notification can be re-queued"
            )
    return await get_notification(conn, notification_id)


async def stats(conn: psycopg.AsyncConnection[Any]) -> Stats:
    cur = await conn.execute(_Q["select_queue_depth"])
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for r in await cur.fetchall():
        by_status[str(r["status"])] = int(r["n"])
    cur = await conn.execute(_Q["select_attempts_by_outcome"])
    by_outcome = {str(r["outcome"]): int(r["n"]) for r in await cur.fetchall()}
    cur = await conn.execute(_Q["select_notification_stats"])
    row = await cur.fetchone()
    assert row is not None
    finished = by_status["sent"] + by_status["failed"]
    age = row["oldest_pending_age_seconds"]
    return Stats(
        by_status=by_status,
        total=int(row["total"]),
        attempts=int(row["attempts"]),
        attempts_by_outcome=by_outcome,
        retries=int(row["retries"]),
        # of the notifications that reached an end, the share delivered
        success_rate=round(by_status["sent"] / finished, 4) if finished else None,
        oldest_pending_age_seconds=None if age is None else round(float(age), 3),
        leader=await current_leader(conn),
    )


async def captured_mail_page(
    conn: psycopg.AsyncConnection[Any], *, limit: int, before_id: int | None
) -> list[CapturedMailRow]:
    async with conn.cursor(row_factory=class_row(CapturedMailRow)) as cur:
        await cur.execute(_Q["select_captured_mail_page"], {"limit": limit, "before_id": before_id})
        return await cur.fetchall()
