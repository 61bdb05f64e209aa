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
from stockline.alerts import digest_store
from stockline.alerts import notifications as n
from stockline.alerts.channels import NO_RECIPIENTS, Channels
from stockline.alerts.digest import stored_digest
from stockline.alerts.leader import LeaderElection
from stockline.alerts.lease import claim_limit
from stockline.config import Settings
from stockline.system_config import ConfigCache

log = logging.getLogger(__name__)
CONCURRENT_SENDS = 8
DIGEST_BATCH = 200  # one digest mail lists at most this many; the rest go in the next


class Worker:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        leader: LeaderElection,
        config: ConfigCache,
        channels: Channels,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._leader = leader
        self._config = config
        self._channels = channels
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
        digests_full = False
        if len(self._inflight) < CONCURRENT_SENDS:
            digests_full = await self._dispatch_digests(term)
        if len(claimed) == limit or digests_full:
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
        # bounded: a sender cut off from the database must not sit on its slot for the
        # kernel's retransmission time (it sends nothing meanwhile either way)
        async with asyncio.timeout(self._settings.db_connect_timeout * 2):
            async with self._pool.connection() as conn:
                if await n.renew_lease_before_send(conn, claimed, lease_seconds=lease, term=term):
                    return True
                handed_back = await n.hand_back(conn, claimed)
        log.warning(
            "not sending: this sender no longer leads or no longer holds the lease",
            extra={"action": "notification_send_fenced", "handed_back": handed_back, **ids},
        )
        return False

    async def _fence_unit(self, members: list[n.Claimed], term: n.Term) -> bool:
        """A digest is sent only if every member is still ours; else all go back."""
        lease = self._settings.send_lease_seconds
        # one transaction: every member's lease ends at the same instant, so if this
        # sender dies the unit is taken up again whole, not split into several mails
        async with self._pool.connection() as conn, conn.transaction():
            renewed = [
                m
                for m in members
                if await n.renew_lease_before_send(conn, m, lease_seconds=lease, term=term)
            ]
            if len(renewed) == len(members):
                return True
            for m in renewed:
                await n.hand_back(conn, m)
        log.warning(
            "not sending the digest: this sender no longer leads or holds every lease",
            extra={"action": "digest_send_fenced", "notifications": [m.id for m in members]},
        )
        return False

    async def _send(self, claimed: n.Claimed, term: n.Term) -> None:
        ids = self._ids(claimed)
        self._note_takeover(claimed, ids)

        async def fence() -> bool:
            if not await self._fence(claimed, term, ids):
                return False
            log.info(
                "sending notification",
                extra={
                    "action": "notification_send",
                    "channels": self._channels.pending(claimed),
                    **ids,
                },
            )
            return True

        results = await self._channels.deliver_one(claimed, fence)
        if results is not None:
            await self._record(claimed, results, ids)

    def _ids(self, claimed: n.Claimed) -> dict[str, Any]:
        return {
            "notification_id": claimed.id,
            "attempt_no": claimed.attempt_count,
            "message_id": claimed.message_id,
            "instance_id": self._settings.instance_id,
        }

    def _note_takeover(self, claimed: n.Claimed, ids: dict[str, Any]) -> None:
        if claimed.prior_status == "sending":
            metrics.NOTIFICATION_ATTEMPTS.labels("lease_expired").inc()
            log.warning(
                "a sender's lease expired; sending again with the same Message-ID",
                extra={"action": "notification_lease_expired", **ids},
            )

    def _step(
        self, claimed: n.Claimed, results: dict[str, n.Outcome]
    ) -> tuple[n.Step, dict[str, str]]:
        step, states = n.channel_step(
            results,
            claimed.channel_states,
            claimed.attempt_count,
            claimed.requeued_at_attempt,
            self._settings.retry_delays,
        )
        email = results.get(n.EMAIL)
        if email is not None and email.error == NO_RECIPIENTS and step.status == "failed":
            step = n.Step("failed", None, NO_RECIPIENTS)  # S-9: say plainly what is missing
        return step, states

    async def _record(
        self,
        claimed: n.Claimed,
        results: dict[str, n.Outcome],
        ids: dict[str, Any],
        step_states: tuple[n.Step, dict[str, str]] | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        step, states = step_states or self._step(claimed, results)
        if conn is None:
            async with self._pool.connection() as own:
                recorded = await n.record_outcome(
                    own, claimed, results, step, states, instance_id=self._settings.instance_id
                )
        else:
            recorded = await n.record_outcome(
                conn, claimed, results, step, states, instance_id=self._settings.instance_id
            )
        for channel, outcome in results.items():
            metrics.NOTIFICATION_ATTEMPTS.labels(outcome.kind).inc()
            extra = {
                **ids,
                "channel": channel,
                "outcome": outcome.kind,
                "smtp_code": outcome.smtp_code,
                "http_status": outcome.http_status,
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

    async def _dispatch_digests(self, term: n.Term) -> bool:
        """Due digest notifications go out as one mail per unit (SPEC §7.4): the rows
        claimed are exactly those this mail sends now. A unit's members share one next
        step when the mail fails, so it retries as a unit."""
        cfg = stored_digest(self._config.current.notification_digest)
        async with self._pool.connection() as conn:
            with contextlib.suppress(Exception):  # the stored slots still work meanwhile
                await digest_store.top_up(conn, cfg, datetime.now(UTC))
            claimed = await n.claim_due(
                conn,
                limit=DIGEST_BATCH,
                lease_seconds=self._settings.send_lease_seconds,
                instance_id=self._settings.instance_id,
                term=term,
                digest=True,
            )
            if not claimed:
                return False
            units = await digest_store.form_units(conn, claimed)
        for digest_id, (message_id, members) in units.items():
            task = asyncio.create_task(
                self._send_digest(digest_id, message_id, members, term),
                name=f"digest-{digest_id}",
            )
            self._inflight.add(task)
            task.add_done_callback(self._sent)
        return len(claimed) == DIGEST_BATCH

    async def _send_digest(
        self, digest_id: int, message_id: str, members: list[n.Claimed], term: n.Term
    ) -> None:
        for m in members:
            self._note_takeover(m, self._ids(m))

        async def fence() -> bool:
            if not await self._fence_unit(members, term):
                return False
            log.info(
                "sending digest",
                extra={
                    "action": "digest_send",
                    "digest_id": digest_id,
                    "message_id": message_id,
                    "notifications": [m.id for m in members],
                    "instance_id": self._settings.instance_id,
                },
            )
            return True

        try:
            results = await self._channels.deliver_digest(message_id, members, fence)
        except Exception as exc:  # the lease brings the unit back; say why
            log.warning(
                "digest delivery broke off before an outcome; the lease brings it back",
                extra={
                    "action": "digest_failed",
                    "digest_id": digest_id,
                    "error": type(exc).__name__,
                },
            )
            return
        if results is None:
            return
        steps = {m.id: self._step(m, results[m.id]) for m in members}
        # one unit: every member still retrying waits as long as the longest of them
        delays = [s.delay_seconds for s, _ in steps.values() if s.status == "retrying"]
        if delays:
            longest = max(d or 0.0 for d in delays)
            for mid, (step, states) in list(steps.items()):
                if step.status == "retrying":
                    steps[mid] = (n.Step("retrying", longest, step.error_details), states)
        # one transaction, so every member gets the same next_attempt_at (now() is the
        # transaction's): the unit comes due, and is claimed, together
        try:
            async with self._pool.connection() as conn, conn.transaction():
                for m in members:
                    await self._record(m, results[m.id], self._ids(m), steps[m.id], conn)
        except Exception as exc:
            log.warning(
                "could not record a digest attempt; the lease will bring it back",
                extra={
                    "action": "notification_record_failed",
                    "digest_id": digest_id,
                    "error": type(exc).__name__,
                },
            )

    async def stop(self, grace_seconds: float = 2.0) -> None:
        """Stop claiming; give sends in flight a moment to finish and record."""
        self._stopping = True
        self.ring()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace_seconds)
        with contextlib.suppress(Exception):
            await self._channels.aclose()

    def health(self) -> dict[str, Any]:
        return {
            **self._leader.health(),
            "instance_id": self._settings.instance_id,
            "delivery": self._channels.mode,
            "last_batch_at": self.last_batch_at.isoformat() if self.last_batch_at else None,
        }
