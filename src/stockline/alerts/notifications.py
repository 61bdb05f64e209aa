"""Notification states and the retry schedule (S-7), and the claim/record steps.

pending ──claim──▶ sending ──every channel delivered──▶ sent
                     │ ├──a channel transient, round not spent──▶ retrying ──due──▶ sending
                     │ └──a channel permanent, or 4th failure───▶ failed ──POST retry──▶ pending
                     └──lease expired (sender died)──▶ sending again, same Message-ID
suppressed: raised while the product was snoozed (SPEC §7.4); never delivered.

Channels (SPEC §7.4): email plus one per webhook. An attempt tries every channel that has
not reached an end; each is logged as its own attempt row, and a channel that was
delivered (or refused for good) is not tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from stockline.db.queries import load

_Q = load("alerts")

Status = Literal["pending", "sending", "retrying", "sent", "failed", "suppressed"]
STATUSES: tuple[Status, ...] = ("pending", "sending", "retrying", "sent", "failed", "suppressed")
EMAIL = "email"
OutcomeKind = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True)
class Claimed:
    """A notification this sender holds the lease on; attempt_count is this attempt's number."""

    id: int
    type: str
    payload: dict[str, Any]
    message_id: str
    product_id: int | None
    threshold: int | None
    attempt_count: int
    requeued_at_attempt: int
    last_attempt_at: datetime
    created_at: datetime
    prior_status: str
    lease_token: UUID
    channel_states: dict[str, str]
    digest_id: int | None


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    smtp_code: int | None = None
    smtp_reply: str | None = None
    error: str | None = None
    http_status: int | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait

    def describe(self) -> str:
        if self.smtp_code is not None:
            return f"SMTP {self.smtp_code} {self.smtp_reply or ''}".strip()
        return self.error or self.kind


@dataclass(frozen=True)
class Step:
    """What an outcome means for the row: its next status and, if retrying, the delay."""

    status: Status
    delay_seconds: float | None
    error_details: str | None


def next_step(outcome: Outcome, attempt_no: int, round_start: int, delays: list[float]) -> Step:
    """After attempt k of a round fails transiently, wait delays[k-1]; with no delay left
    (by default the 4th failed attempt) the notification is failed."""
    if outcome.kind == "sent":
        return Step("sent", None, outcome.error)  # a partial refusal is kept as a note
    failures = attempt_no - round_start
    if outcome.kind == "permanent":
        return Step("failed", None, f"permanent failure: {outcome.describe()}")
    if failures <= len(delays):
        delay = delays[failures - 1]
        return Step(
            "retrying",
            delay,
            f"attempt {attempt_no} failed ({outcome.describe()}); retrying in {delay:g} s",
        )
    return Step(
        "failed",
        None,
        f"gave up after {failures} failed attempts; last: {outcome.describe()}",
    )


def channel_step(
    results: dict[str, Outcome],
    prior_states: dict[str, str],
    attempt_no: int,
    round_start: int,
    delays: list[float],
) -> tuple[Step, dict[str, str]]:
    """Fold this attempt's per-channel outcomes into the notification's next step.

    Delivered channels become "sent", permanently refused ones "failed"; both are done.
    While any channel is transient and the round has delays left, the notification
    retries after the schedule's delay or the longest Retry-After asked for, whichever is
    later. It is `sent` only when every channel was delivered."""
    states = dict(prior_states)
    for channel, outcome in results.items():
        if outcome.kind == "sent":
            states[channel] = "sent"
        elif outcome.kind == "permanent":
            states[channel] = "failed"
    transient = {c: o for c, o in results.items() if o.kind == "transient"}
    refused = {c: o for c, o in results.items() if o.kind == "permanent"}
    failed_before = [c for c, v in prior_states.items() if v == "failed" and c not in results]

    def named(found: dict[str, Outcome]) -> str:
        return "; ".join(f"{c}: {o.describe()}" for c, o in sorted(found.items()))

    if transient:
        worst = next_step(
            next(iter(transient.values())), attempt_no, round_start, delays
        )  # the round's position is the same for every channel
        if worst.status == "retrying":
            asked = [o.retry_after for o in transient.values() if o.retry_after is not None]
            delay = max([worst.delay_seconds or 0.0, *asked])
            detail = f"attempt {attempt_no} failed ({named(transient)}); retrying in {delay:g} s"
            if refused:
                detail += f"; refused for good: {named(refused)}"
            return Step("retrying", delay, detail), states
        failures = attempt_no - round_start
        detail = f"gave up after {failures} failed attempts; last: {named(transient)}"
        if refused:
            detail += f"; refused for good: {named(refused)}"
        return Step("failed", None, detail), states
    if refused or failed_before:
        detail = f"permanent failure: {named(refused)}" if refused else "permanent failure"
        if failed_before:
            detail += f" (earlier: {', '.join(sorted(failed_before))})"
        return Step("failed", None, detail), states
    notes = [o.error for o in results.values() if o.error]  # a partial refusal is kept
    return Step("sent", None, "; ".join(notes) if notes else None), states


@dataclass(frozen=True)
class Term:
    """A leadership term: its generation is the fencing token, lock_key the advisory
    lock (split into pg_locks' classid/objid) its session must still hold."""

    generation: int
    lock_key: int

    def params(self) -> dict[str, int]:
        return {
            "generation": self.generation,
            "classid": self.lock_key >> 32,
            "objid": self.lock_key & 0xFFFF_FFFF,
        }


async def claim_due(
    conn: psycopg.AsyncConnection[Any],
    *,
    limit: int,
    lease_seconds: float,
    instance_id: str,
    term: Term,
    digest: bool = False,
) -> list[Claimed]:
    """Nothing when the term is over: a leader that lost its lock claims no more. digest
    picks the queue: immediate notifications, or those waiting for a digest mail."""
    async with conn.transaction(), conn.cursor(row_factory=class_row(Claimed)) as cur:
        await cur.execute(
            _Q["claim_due_notifications"],
            {
                "limit": limit,
                "lease_seconds": lease_seconds,
                "instance_id": instance_id,
                "digest": digest,
                **term.params(),
            },
        )
        return await cur.fetchall()


async def renew_lease_before_send(
    conn: psycopg.AsyncConnection[Any], claimed: Claimed, *, lease_seconds: float, term: Term
) -> bool:
    """The fencing check: True means send now (the lease restarted with the send)."""
    async with conn.transaction():
        cur = await conn.execute(
            _Q["update_lease_before_send"],
            {
                "id": claimed.id,
                "lease_token": claimed.lease_token,
                "lease_seconds": lease_seconds,
                **term.params(),
            },
        )
        return await cur.fetchone() is not None


async def hand_back(conn: psycopg.AsyncConnection[Any], claimed: Claimed) -> bool:
    """Return a claim that was never sent; False when another sender owns it already."""
    async with conn.transaction():
        cur = await conn.execute(
            _Q["update_release_claim"],
            {
                "id": claimed.id,
                "lease_token": claimed.lease_token,
                "prior_status": claimed.prior_status,
            },
        )
        return await cur.fetchone() is not None


async def record_outcome(
    conn: psycopg.AsyncConnection[Any],
    claimed: Claimed,
    results: dict[str, Outcome],
    step: Step,
    states: dict[str, str],
    *,
    instance_id: str,
) -> bool:
    """One attempt row per channel tried and the next status, in one transaction. False
    when this sender's lease was taken over meanwhile (the other sender owns the row)."""
    async with conn.transaction():
        cur = await conn.execute(
            _Q["update_notification_outcome"],
            {
                "id": claimed.id,
                "attempt_no": claimed.attempt_count,
                "lease_token": claimed.lease_token,
                "status": step.status,
                "delay_seconds": step.delay_seconds,
                "error_details": step.error_details,
                "channel_states": Jsonb(states),
            },
        )
        if await cur.fetchone() is None:
            return False
        for channel, outcome in results.items():
            await conn.execute(
                _Q["insert_attempt"],
                {
                    "notification_id": claimed.id,
                    "attempt_no": claimed.attempt_count,
                    "channel": channel,
                    "started_at": claimed.last_attempt_at,
                    "outcome": outcome.kind,
                    "smtp_code": outcome.smtp_code,
                    "smtp_reply": outcome.smtp_reply,
                    "http_status": outcome.http_status,
                    "error": outcome.error,
                    "instance_id": instance_id,
                },
            )
    return True


async def seconds_until_next_due(conn: psycopg.AsyncConnection[Any]) -> float | None:
    cur = await conn.execute(_Q["select_next_due_seconds"])
    row = await cur.fetchone()
    value = None if row is None else _first(row)
    return None if value is None else float(value)


async def queue_depth(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    cur = await conn.execute(_Q["select_queue_depth"])
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in await cur.fetchall():
        status, n = _pair(row)
        counts[str(status)] = int(n)
    return counts


def _first(row: Any) -> Any:
    return row["seconds"] if isinstance(row, dict) else row[0]


def _pair(row: Any) -> tuple[Any, Any]:
    return (row["status"], row["n"]) if isinstance(row, dict) else (row[0], row[1])
