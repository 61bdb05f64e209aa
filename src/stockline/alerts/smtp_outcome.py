"""What an SMTP conversation's end means (S-7), and what of it may be kept.

Every failure is sorted into transient (connection refused or reset, timeout, SMTP 4xx:
retry later) or permanent (SMTP 5xx, or a server that would have us send the password
in the clear: give up). Texts that reach the database, the API or the log pass through
a Redactor first: a server may echo the password, or the base64 forms AUTH PLAIN and
AUTH LOGIN sent it in, back in its reply.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import aiosmtplib

from stockline.alerts.notifications import Outcome, OutcomeKind

MAX_TEXT = 500
REDACTED = "[redacted]"


class CleartextAuthRefused(aiosmtplib.SMTPException):
    """The SMTP server offers no TLS; SMTP_USER's password is not sent in the clear
    (set SMTP_TLS=off to allow plain AUTH)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").replace("\n    ", " "))


def _b64_forms(raw: bytes) -> list[str]:
    full = base64.b64encode(raw).decode()
    return [full, full.rstrip("=")]


def secret_forms(user: str, password: str) -> list[str]:
    """Every spelling of the credentials a reply could echo: the password itself, and
    the base64 of the user name, the password (AUTH LOGIN) and both (AUTH PLAIN)."""
    if not password and not user:
        return []
    u, p = user.encode(), password.encode()
    forms = [password] if password else []
    if user:
        forms += _b64_forms(u)
    if password:
        forms += _b64_forms(p) + _b64_forms(b"\0" + u + b"\0" + p)
        forms += _b64_forms(u + b"\0" + u + b"\0" + p)  # PLAIN with an authorisation id
    # longest first, so a PLAIN blob goes whole before a shorter form inside it is looked for
    return sorted({f for f in forms if len(f) >= 4}, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = list(secrets)

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text[:MAX_TEXT]


def classify(exc: BaseException, redact: Redactor) -> Outcome:
    """The outcome of a conversation that raised `exc`; every text redacted."""
    if isinstance(exc, CleartextAuthRefused):
        return Outcome("permanent", None, None, str(exc))
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        first = exc.recipients[0] if exc.recipients else None
        kind: OutcomeKind = "transient" if any(400 <= c < 500 for c in codes) else "permanent"
        return Outcome(
            kind,
            first.code if first else None,
            redact(first.message) if first else None,
            redact(f"every recipient refused: {[str(r) for r in exc.recipients]}"),
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = "permanent" if 500 <= exc.code < 600 else "transient"  # 4xx and oddities
        return Outcome(kind, exc.code, redact(exc.message), type(exc).__name__)
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        detail = redact(str(exc)) or "no reply in time"
        return Outcome("transient", None, None, f"timeout: {detail}")
    # refused, reset, dropped mid-conversation, DNS, or anything unexpected: the server
    # may be back soon
    return Outcome("transient", None, None, redact(f"{type(exc).__name__}: {exc}"))


def accepted(reply: str, refused: dict[str, str], redact: Redactor) -> Outcome:
    """The outcome of a conversation that ended with the server taking the message."""
    note = f"refused by the server: {refused}" if refused else None
    code, _, text = reply.partition(" ")
    return Outcome(
        "sent",
        int(code) if code.isdigit() else 250,
        redact(text if code.isdigit() else reply),
        redact(note) if note else None,
    )
