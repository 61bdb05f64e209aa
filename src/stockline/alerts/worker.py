"""The mail worker: runs in every process, dispatches only while its process leads (S-8).

Woken by NOTIFY stockline_notifications (a committed breach is mailed within a
second) or when the earliest retry / lease comes due, and at least every
STOCKLINE_WORKER_POLL_SECONDS. Each round: confirm the lock, claim as many due rows
as there are free sending slots (one short transaction; the lease starts now), and
for each, right before its send, the fencing check (SPEC §7.1: lease, token and
leadership term in one statement); send outside any transaction, then record the
attempt and its next status in one transaction. A finished send frees a slot and
wakes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline import metrics
from stockline.alerts import notifications as n
from stockline.alerts.leader import LeaderElection
from stockline.alerts.lease import claim_limit
from stockline.alerts.mailer import Mailer
from stockline.alerts.message import low_stock_mail
from stockline.config import Settings
from stockline.db.queries import load
from stockline.system_config import ConfigCache

log = logging.getLogger(__name__)
_Q = load("alerts")
CONCURRENT_SENDS = 8
NO_RECIPIENTS = (
    "no recipients: notification_recipients is empty (set it in the admin settings, "
    "or ADMIN_NOTIFICATION_EMAILS while none is stored)"
)


class Worker:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        leader: LeaderElection,
        config: ConfigCache,
        mailer: Mailer,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._leader = leader
        self._config = config
        self._mailer = mailer
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.last_batch_at: datetime | None = None
        leader.on_change(lambda leading: self.ring())

    @property
    def leader(self) -> LeaderElection:
        return self._leader

    def ring(self) -> None:
        self._wake.set()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0.0))
        self._wake.clear()

    async def run(self) -> None:
        while not self._stopping:
            if not self._leader.leading:
                await self._wait(self._settings.worker_poll_seconds)
                continue
            try:
                delay = await self._dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: try again shortly
                log.warning(
                    "notification batch failed",
                    extra={"action": "worker_batch_failed", "error": type(exc).__name__},
                )
                delay = min(1.0, self._settings.worker_poll_seconds)
            await self._wait(delay)

    async def _dispatch_once(self) -> float:
        poll = self._settings.worker_poll_seconds
        if not await self._leader.confirm():
            return 0.0
        term = self._leader.term()
        limit = claim_limit(CONCURRENT_SENDS, len(self._inflight))
        if term is None or limit == 0:
            return poll  # every slot busy: a finishing send rings
        with contextlib.suppress(Exception):  # a stale cache beats no mail
            await self._config.refresh()
        async with self._pool.connection() as conn:
            claimed = await n.claim_due(
                conn,
                limit=limit,
                lease_seconds=self._settings.send_lease_seconds,
                instance_id=self._settings.instance_id,
                term=term,
            )
        self.last_batch_at = datetime.now(UTC)
        for c in claimed:
            task = asyncio.create_task(self._send_guarded(c, term), name=f"notification-{c.id}")
            self._inflight.add(task)
            task.add_done_callback(self._sent)
        if len(claimed) == limit:
            return 0.0 if len(self._inflight) < CONCURRENT_SENDS else poll
        async with self._pool.connection() as conn:
            due_in = await n.seconds_until_next_due(conn)
        return poll if due_in is None else min(poll, due_in)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.ring()  # a slot is free: claim the next due row now

    async def _send_guarded(self, claimed: n.Claimed, term: n.Term) -> None:
        try:
            await self._send(claimed, term)
        except Exception as exc:  # the lease brings it back; say why
            log.warning(
                "a delivery attempt broke off (database away?); the lease brings it back",
                extra={
                    "action": "notification_record_failed",
                    "notification_id": claimed.id,
                    "error": type(exc).__name__,
                },
            )

    async def _fence(self, claimed: n.Claimed, term: n.Term, ids: dict[str, Any]) -> bool:
        """Right before the send: still ours, lease valid, term current? Else hand back."""
        lease = self._settings.send_lease_seconds
        async with self._pool.connection() as conn:
            if await n.renew_lease_before_send(conn, claimed, lease_seconds=lease, term=term):
                return True
            handed_back = await n.hand_back(conn, claimed)
        log.warning(
            "not sending: this sender no longer leads or no longer holds the lease",
            extra={"action": "notification_send_fenced", "handed_back": handed_back, **ids},
        )
        return False

    async def _send(self, claimed: n.Claimed, term: n.Term) -> None:
        ids = {
            "notification_id": claimed.id,
            "attempt_no": claimed.attempt_count,
            "message_id": claimed.message_id,
            "instance_id": self._settings.instance_id,
        }
        if claimed.prior_status == "sending":
            metrics.NOTIFICATION_ATTEMPTS.labels("lease_expired").inc()
            log.warning(
                "a sender's lease expired; sending again with the same Message-ID",
                extra={"action": "notification_lease_expired", **ids},
            )
        recipients = list(self._config.current.notification_recipients)
        if claimed.type != "low_stock":
            outcome = n.Outcome("permanent", error=f"unknown notification type {claimed.type!r}")
        elif not recipients:
            outcome = n.Outcome("permanent", error=NO_RECIPIENTS)
        else:
            mail = low_stock_mail(
                message_id=claimed.message_id,
                recipients=recipients,
                payload=claimed.payload,
                now=await self._product_now(claimed.product_id),
                public_url=self._settings.public_url,
            )
            if not await self._fence(claimed, term, ids):
                return
            log.info(
                "sending notification",
                extra={"action": "notification_send", "recipients": len(recipients), **ids},
            )
            outcome = await self._mailer.deliver(mail, claimed.id)
        step = n.next_step(
            outcome, claimed.attempt_count, claimed.requeued_at_attempt, self._settings.retry_delays
        )
        if outcome.error == NO_RECIPIENTS:
            step = n.Step("failed", None, NO_RECIPIENTS)
        async with self._pool.connection() as conn:
            recorded = await n.record_outcome(
                conn, claimed, outcome, step, instance_id=self._settings.instance_id
            )
        metrics.NOTIFICATION_ATTEMPTS.labels(outcome.kind).inc()
        extra = {
            **ids,
            "outcome": outcome.kind,
            "smtp_code": outcome.smtp_code,
            "status": step.status,
            "next_in_seconds": step.delay_seconds,
            "error": outcome.error or outcome.smtp_reply,
        }
        if not recorded:
            log.warning(
                "delivery attempt finished after its lease was taken over; not recorded",
                extra={"action": "notification_lease_lost", **extra},
            )
        elif outcome.kind == "sent":
            log.info("notification sent", extra={"action": "notification_sent", **extra})
        else:
            log.warning(
                "notification attempt failed",
                extra={"action": "notification_attempt_failed", **extra},
            )

    async def _product_now(self, product_id: int | None) -> dict[str, Any] | None:
        if product_id is None:
            return None
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(_Q["select_product_now"], {"product_id": product_id})
                row = await cur.fetchone()
        except Exception:
            return None  # the breach payload is enough for a message
        return dict(row) if row else None

    async def stop(self, grace_seconds: float = 2.0) -> None:
        """Stop claiming; give sends in flight a moment to finish and record."""
        self._stopping = True
        self.ring()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace_seconds)

    def health(self) -> dict[str, Any]:
        return {
            **self._leader.health(),
            "instance_id": self._settings.instance_id,
            "delivery": self._mailer.mode,
            "last_batch_at": self.last_batch_at.isoformat() if self.last_batch_at else None,
        }
