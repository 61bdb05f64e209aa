"""Delivery: SMTP through aiosmtplib, or the captured_mail table when no SMTP_HOST is set.

Every failure is sorted into transient (connection refused or reset, timeout, SMTP 4xx:
retry later) or permanent (SMTP 5xx: give up), S-7. Texts that reach the database or
the log pass through _scrub, so the SMTP password can never leak through an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiosmtplib
import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline.alerts.message import Mail
from stockline.alerts.notifications import Outcome, OutcomeKind
from stockline.config import Settings
from stockline.db.queries import load

log = logging.getLogger(__name__)
_Q = load("alerts")
_MAX_TEXT = 500


class Mailer:
    def __init__(
        self, settings: Settings, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    ) -> None:
        self._settings = settings
        self._pool = pool

    @property
    def mode(self) -> str:
        return "smtp" if self._settings.smtp_host else "capture"

    async def deliver(self, mail: Mail, notification_id: int) -> Outcome:
        if not self._settings.smtp_host:
            return await self._capture(mail, notification_id)
        try:
            return await self._send_smtp(mail)
        except Exception as exc:
            return self._classify(exc)

    async def _capture(self, mail: Mail, notification_id: int) -> Outcome:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                _Q["insert_captured_mail"],
                {
                    "notification_id": notification_id,
                    "message_id": mail.message_id,
                    "recipients": mail.recipients,
                    "subject": mail.subject,
                    "body_text": mail.body_text,
                    "body_html": mail.body_html,
                },
            )
        return Outcome("sent", None, "captured (no SMTP_HOST configured)")

    def _tls_options(self) -> dict[str, Any]:
        mode, port = self._settings.smtp_tls, self._settings.smtp_port
        if mode == "tls" or (mode == "auto" and port == 465):
            return {"use_tls": True, "start_tls": False}
        if mode == "starttls":
            return {"use_tls": False, "start_tls": True}
        if mode == "none":
            return {"use_tls": False, "start_tls": False}
        return {"use_tls": False, "start_tls": None}  # auto: STARTTLS when offered

    async def _send_smtp(self, mail: Mail) -> Outcome:
        s = self._settings
        timeout = s.smtp_timeout_seconds
        password = s.smtp_password.get_secret_value()
        # aiosmtplib's timeout is per command; this bounds the whole conversation so the
        # sender always finishes (and records) well inside its lease
        overall = min(timeout * 4, s.send_lease_seconds * 0.8)
        async with asyncio.timeout(overall):
            errors, reply = await aiosmtplib.send(
                mail.to_email(s.smtp_from),
                sender=s.smtp_from,
                recipients=mail.recipients,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=password if s.smtp_user else None,
                timeout=timeout,
                **self._tls_options(),
            )
        refused = {addr: f"{r.code} {r.message}" for addr, r in errors.items()}
        note = f"refused by the server: {refused}" if refused else None
        code, _, text = reply.partition(" ")
        return Outcome(
            "sent",
            int(code) if code.isdigit() else 250,
            self.scrub(text if code.isdigit() else reply),
            self.scrub(note) if note else None,
        )

    def _classify(self, exc: BaseException) -> Outcome:
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            first = exc.recipients[0] if exc.recipients else None
            kind: OutcomeKind = "transient" if any(400 <= c < 500 for c in codes) else "permanent"
            return Outcome(
                kind,
                first.code if first else None,
                self.scrub(first.message) if first else None,
                self.scrub(f"every recipient refused: {[str(r) for r in exc.recipients]}"),
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            kind = "permanent" if 500 <= exc.code < 600 else "transient"  # 4xx and oddities
            return Outcome(kind, exc.code, self.scrub(exc.message), type(exc).__name__)
        if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
            detail = self.scrub(str(exc)) or "no reply in time"
            return Outcome("transient", None, None, f"timeout: {detail}")
        if isinstance(exc, OSError | aiosmtplib.SMTPException):
            # refused, reset, dropped mid-conversation, DNS: the server may be back soon
            return Outcome("transient", None, None, self.scrub(f"{type(exc).__name__}: {exc}"))
        log.exception("unexpected mail error", extra={"action": "mail_unexpected_error"})
        return Outcome("transient", None, None, self.scrub(f"{type(exc).__name__}: {exc}"))

    def scrub(self, text: str | None) -> str | None:
        if text is None:
            return None
        secret = self._settings.smtp_password.get_secret_value()
        if secret:
            text = text.replace(secret, "[redacted]")
        return text[:_MAX_TEXT]
