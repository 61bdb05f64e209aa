"""Delivery: SMTP through aiosmtplib, or the captured_mail table when no SMTP_HOST is set.

With SMTP_USER set, credentials travel only over TLS (SPEC §7.1): implicit TLS, or
STARTTLS (required with SMTP_TLS=starttls, taken when offered with auto). A server that
offers neither gets no AUTH at all, and the attempt fails with a clear error; plain AUTH
needs SMTP_TLS=off, and this process says so at start. Outcomes are sorted and redacted
in smtp_outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiosmtplib
import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline.alerts.lease import LeaseRule
from stockline.alerts.message import Mail
from stockline.alerts.notifications import Outcome
from stockline.alerts.smtp_outcome import (
    CleartextAuthRefused,
    Redactor,
    accepted,
    classify,
    secret_forms,
)
from stockline.config import Settings
from stockline.db.queries import load

log = logging.getLogger(__name__)
_Q = load("alerts")


class Mailer:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._send_timeout = LeaseRule(
            settings.send_lease_seconds, settings.smtp_timeout_seconds
        ).send_timeout
        self.scrub = Redactor(
            secret_forms(settings.smtp_user, settings.smtp_password.get_secret_value())
        )
        if settings.smtp_host and settings.smtp_user and settings.smtp_tls == "off":
            log.warning(
                "SMTP_TLS=off with SMTP_USER set: the SMTP password is sent without TLS",
                extra={"action": "smtp_plain_auth"},
            )

    @property
    def mode(self) -> str:
        return "smtp" if self._settings.smtp_host else "capture"

    async def deliver(self, mail: Mail, notification_id: int) -> Outcome:
        if not self._settings.smtp_host:
            return await self._capture(mail, notification_id)
        try:
            return await self._send_smtp(mail)
        except Exception as exc:
            if not isinstance(exc, OSError | TimeoutError | aiosmtplib.SMTPException):
                log.exception("unexpected mail error", extra={"action": "mail_unexpected_error"})
            return classify(exc, self.scrub)

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
        if mode == "off":
            return {"use_tls": False, "start_tls": False}
        return {"use_tls": False, "start_tls": None}  # auto: STARTTLS when offered

    async def _send_smtp(self, mail: Mail) -> Outcome:
        s = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_seconds
        )
        # aiosmtplib's timeout is per command; this bounds the whole conversation so the
        # sender always finishes (and records) well inside its lease (alerts.lease)
        async with asyncio.timeout(self._send_timeout):
            await smtp.connect(**self._tls_options())  # no credentials yet
            try:
                if s.smtp_user:
                    encrypted = smtp.get_transport_info("sslcontext") is not None
                    if not encrypted and s.smtp_tls != "off":
                        raise CleartextAuthRefused()
                    await smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
                errors, reply = await smtp.send_message(
                    mail.to_email(s.smtp_from), sender=s.smtp_from, recipients=mail.recipients
                )
                # the message is taken: whatever QUIT does must not turn it into a retry
                with contextlib.suppress(Exception):
                    await smtp.quit()
            finally:
                smtp.close()
        refused = {addr: f"{r.code} {r.message}" for addr, r in errors.items()}
        return accepted(reply, refused, self.scrub)
