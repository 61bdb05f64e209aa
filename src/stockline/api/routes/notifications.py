"""/api/admin/notifications and /api/admin/mail: the notification log, its attempts,
stats with the current worker leader, re-queuing, and captured mail (S-7…S-10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, StringConstraints

from stockline.alerts import reports
from stockline.api.deps import Admin, Conn
from stockline.api.schemas import ID_MAX, Text

router = APIRouter(prefix="/api/admin", tags=["notifications"])
NotificationId = Annotated[int, Path(ge=1, le=ID_MAX)]
StatusFilter = Literal["pending", "sending", "retrying", "sent", "failed", "suppressed"]
TypeFilter = Annotated[Text, StringConstraints(min_length=1, max_length=64)]

# ---------------------------------------------------------------- answers


class AttemptOut(BaseModel):
    id: int
    attempt_no: int
    channel: str  # "email", or the webhook's channel name (SPEC §7.4)
    started_at: datetime
    finished_at: datetime
    outcome: str
    smtp_code: int | None
    smtp_reply: str | None
    http_status: int | None
    error: str | None
    instance_id: str | None


class NotificationOut(BaseModel):
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
    digest: bool  # waits for (or went out in) a digest mail
    digest_id: int | None
    channel_states: dict[str, str]  # channels that reached an end: "sent" or "failed"


class NotificationDetailOut(NotificationOut):
    attempts: list[AttemptOut]


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    next_before_id: int | None


class LeaderOut(BaseModel):
    instance_id: str
    host: str
    pid: int
    since: datetime


class NotificationStatsOut(BaseModel):
    by_status: dict[str, int]
    total: int
    attempts: int
    attempts_by_outcome: dict[str, int]
    retries: int
    success_rate: float | None
    oldest_pending_age_seconds: float | None
    leader: LeaderOut | None


class CapturedMailOut(BaseModel):
    id: int
    notification_id: int | None
    message_id: str
    recipients: list[str]
    subject: str
    body_text: str
    body_html: str | None
    created_at: datetime


class CapturedMailPageOut(BaseModel):
    items: list[CapturedMailOut]
    next_before_id: int | None


def _detail(row: reports.NotificationRow, attempts: list[reports.AttemptRow]) -> Any:
    return NotificationDetailOut(**vars(row), attempts=[AttemptOut(**vars(a)) for a in attempts])


# ---------------------------------------------------------------- routes
# /stats is declared before /{notification_id} so it is never parsed as an id.


@router.get("/notifications", response_model=NotificationPageOut)
async def list_notifications(
    conn: Conn,
    admin: Admin,
    status: Annotated[StatusFilter | None, Query()] = None,
    type: Annotated[TypeFilter | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> NotificationPageOut:
    rows = await reports.notifications_page(
        conn, status=status, type_=type, limit=limit, before_id=before_id
    )
    return NotificationPageOut(
        items=[NotificationOut(**vars(r)) for r in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/notifications/stats", response_model=NotificationStatsOut)
async def notification_stats(conn: Conn, admin: Admin) -> NotificationStatsOut:
    s = await reports.stats(conn)
    leader = s.leader
    return NotificationStatsOut(
        by_status=s.by_status,
        total=s.total,
        attempts=s.attempts,
        attempts_by_outcome=s.attempts_by_outcome,
        retries=s.retries,
        success_rate=s.success_rate,
        oldest_pending_age_seconds=s.oldest_pending_age_seconds,
        leader=LeaderOut(**vars(leader)) if leader else None,
    )


@router.get("/notifications/{notification_id}", response_model=NotificationDetailOut)
async def get_notification(
    notification_id: NotificationId, conn: Conn, admin: Admin
) -> NotificationDetailOut:
    row, attempts = await reports.get_notification(conn, notification_id)
    detail: NotificationDetailOut = _detail(row, attempts)
    return detail


@router.post("/notifications/{notification_id}/retry", response_model=NotificationDetailOut)
async def retry_notification(
    notification_id: NotificationId, conn: Conn, admin: Admin
) -> NotificationDetailOut:
    row, attempts = await reports.requeue_failed(conn, notification_id)
    detail: NotificationDetailOut = _detail(row, attempts)
    return detail


@router.get("/mail", response_model=CapturedMailPageOut)
async def list_captured_mail(
    conn: Conn,
    admin: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> CapturedMailPageOut:
    rows = await reports.captured_mail_page(conn, limit=limit, before_id=before_id)
    return CapturedMailPageOut(
        items=[CapturedMailOut(**vars(r)) for r in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )
