"""Delivery over every channel (SPEC §7.4): the mail (one alert, or one digest for several)
and each configured webhook. Returns outcomes per channel; the worker folds them into the
notification's next step (notifications.channel_step) and records them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from stockline.alerts.mailer import Mailer
from stockline.alerts.message import Alert, Facts, Mail, Movement, alert_mail, digest_mail
from stockline.alerts.message import webhook_body as _webhook_body
from stockline.alerts.notifications import EMAIL, Claimed, Outcome
from stockline.alerts.webhooks import Webhook, WebhookSender, stored_webhooks
from stockline.config import Settings
from stockline.db.queries import load
from stockline.inventory import insight
from stockline.system_config import ConfigCache

log = logging.getLogger(__name__)
_Q = load("alerts")
KNOWN_TYPES = frozenset({"low_stock", "negative_stock"})
Fence = Callable[[], Awaitable[bool]]
NO_RECIPIENTS = (
    "no recipients: notification_recipients is empty (set it in the admin settings, "
    "or ADMIN_NOTIFICATION_EMAILS while none is stored)"
)


class Channels:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        config: ConfigCache,
        mailer: Mailer,
        webhooks: WebhookSender,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._config = config
        self._mailer = mailer
        self._webhooks = webhooks

    @property
    def mode(self) -> str:
        return self._mailer.mode

    def _hooks(self) -> list[Webhook]:
        return stored_webhooks(self._config.current.notification_webhooks)

    def pending(self, claimed: Claimed) -> list[str]:
        """Channels of this notification that have not reached an end yet."""
        names = [EMAIL, *(h.channel for h in self._hooks())]
        return [c for c in names if c not in claimed.channel_states]

    async def facts(self, product_ids: Sequence[int]) -> dict[int, Facts]:
        """Stock, threshold, sales and the last movements now; {} if the database is away
        (the breach payload still makes a message)."""
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        try:
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_Q["select_product_now"], {"product_ids": ids})
                products = await cur.fetchall()
                await cur.execute(_Q["select_recent_movements"], {"product_ids": ids})
                moves = await cur.fetchall()
                # the same rule as GET /api/inventory/{id}/insight: one computation
                insights = {pid: await insight.product_insight(conn, pid) for pid in ids}
        except Exception:
            log.warning("product facts unavailable", extra={"action": "mail_facts_failed"})
            return {}
        by_product: dict[int, list[Movement]] = {}
        for m in moves:
            by_product.setdefault(int(m["product_id"]), []).append(
                Movement(m["created_at"], int(m["delta"]), m["source"], m["reason"], m["actor"])
            )
        return {
            int(p["id"]): Facts(
                sku=p["sku"],
                name=p["name"],
                low_stock_threshold=p["low_stock_threshold"],
                current_stock=int(p["current_stock"]),
                sold_per_day=insights[int(p["id"])].sold_per_day,
                days_of_cover=insights[int(p["id"])].days_of_cover,
                movements=tuple(by_product.get(int(p["id"]), ())),
            )
            for p in products
        }

    @staticmethod
    def alert(claimed: Claimed, facts: dict[int, Facts]) -> Alert:
        pid = claimed.product_id
        return Alert(
            id=claimed.id,
            type=claimed.type,
            message_id=claimed.message_id,
            product_id=pid,
            payload=claimed.payload,
            created_at=claimed.created_at,
            facts=facts.get(pid) if pid is not None else None,
        )

    async def _mail(self, mail: Mail, notification_id: int) -> Outcome:
        if not mail.recipients:
            return Outcome("permanent", error=NO_RECIPIENTS)
        return await self._mailer.deliver(mail, notification_id)

    async def _post_all(self, alert: Alert, wanted: list[str]) -> dict[str, Outcome]:
        hooks = [h for h in self._hooks() if h.channel in wanted]
        if not hooks:
            return {}
        body = _webhook_body(alert, self._settings.public_url)
        headers = {"X-Stockline-Notification-Id": str(alert.id)}
        outcomes = await asyncio.gather(*(self._webhooks.post(h, body, headers) for h in hooks))
        return {h.channel: o for h, o in zip(hooks, outcomes, strict=True)}

    async def deliver_one(self, claimed: Claimed, fence: Fence) -> dict[str, Outcome] | None:
        """None when the fence (checked right before sending, SPEC §7.1) says no."""
        wanted = self.pending(claimed)
        if claimed.type not in KNOWN_TYPES:
            error = f"unknown notification type {claimed.type!r}"
            return {c: Outcome("permanent", error=error) for c in wanted}
        facts = await self.facts([claimed.product_id] if claimed.product_id else [])
        alert = self.alert(claimed, facts)
        if not await fence():
            return None
        results: dict[str, Outcome] = {}
        mail_task = None
        if EMAIL in wanted:
            mail = alert_mail(
                alert=alert,
                recipients=list(self._config.current.notification_recipients),
                public_url=self._settings.public_url,
            )
            mail_task = asyncio.create_task(self._mail(mail, claimed.id))
        results.update(await self._post_all(alert, wanted))
        if mail_task is not None:
            results[EMAIL] = await mail_task
        return results

    async def deliver_digest(
        self, message_id: str, members: Sequence[Claimed], fence: Fence
    ) -> dict[int, dict[str, Outcome]] | None:
        """One mail listing every member that still needs mail; webhooks per member."""
        facts = await self.facts([m.product_id for m in members if m.product_id])
        if not await fence():
            return None
        alerts = {m.id: self.alert(m, facts) for m in members}
        wanted = {m.id: self.pending(m) for m in members}
        results: dict[int, dict[str, Outcome]] = {m.id: {} for m in members}
        for m in members:
            if m.type not in KNOWN_TYPES:
                error = f"unknown notification type {m.type!r}"
                results[m.id] = {c: Outcome("permanent", error=error) for c in wanted[m.id]}
        known = [m for m in members if m.type in KNOWN_TYPES]
        posts = await asyncio.gather(*(self._post_all(alerts[m.id], wanted[m.id]) for m in known))
        for m, outcome in zip(known, posts, strict=True):
            results[m.id].update(outcome)
        mailed = [m for m in known if EMAIL in wanted[m.id]]
        if mailed:
            mail = digest_mail(
                message_id=message_id,
                alerts=[alerts[m.id] for m in mailed],
                recipients=list(self._config.current.notification_recipients),
                public_url=self._settings.public_url,
            )
            mailed_outcome = await self._mail(mail, mailed[0].id)
            for m in mailed:
                results[m.id][EMAIL] = mailed_outcome
        return results

    async def aclose(self) -> None:
        await self._webhooks.aclose()
