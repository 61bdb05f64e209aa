"""SMTP reply classification (S-7) and the redaction of credentials in replies."""

from __future__ import annotations

import base64

import aiosmtplib

from stockline.alerts.smtp_outcome import (
    REDACTED,
    CleartextAuthRefused,
    Redactor,
    accepted,
    classify,
    secret_forms,
)

USER, PASSWORD = "mailer@shop.example.com", "s3cret-Pässword"
redact = Redactor(secret_forms(USER, PASSWORD))


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def test_4xx_replies_are_transient_and_5xx_permanent() -> None:
    assert classify(aiosmtplib.SMTPResponseException(451, "try later"), redact).kind == "transient"
    assert classify(aiosmtplib.SMTPDataError(421, "closing"), redact).kind == "transient"
    outcome = classify(aiosmtplib.SMTPResponseException(550, "policy"), redact)
    assert (outcome.kind, outcome.smtp_code, outcome.smtp_reply) == ("permanent", 550, "policy")


def test_a_refused_connection_or_a_timeout_is_transient() -> None:
    assert classify(ConnectionRefusedError(111, "refused"), redact).kind == "transient"
    timeout = classify(TimeoutError(), redact)
    assert timeout.kind == "transient" and timeout.error == "timeout: no reply in time"
    assert classify(aiosmtplib.SMTPServerDisconnected("gone"), redact).kind == "transient"


def test_recipients_refused_is_transient_only_when_a_refusal_was_4xx() -> None:
    soft = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "a@x.example")]
    )
    hard = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x.example")]
    )
    assert classify(soft, redact).kind == "transient"
    assert classify(hard, redact).kind == "permanent"


def test_a_server_without_tls_for_the_password_is_a_permanent_failure_saying_why() -> None:
    outcome = classify(CleartextAuthRefused(), redact)
    assert outcome.kind == "permanent"
    assert outcome.error is not None and "SMTP_TLS=off" in outcome.error


def test_every_form_of_the_credentials_in_a_reply_is_redacted() -> None:
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    reply = (
        f"535 5.7.8 bad credentials {plain} / user {_b64(USER)} pass {_b64(PASSWORD)}"
        f" raw {PASSWORD} unpadded {_b64(PASSWORD).rstrip('=')}"
    )
    outcome = classify(aiosmtplib.SMTPAuthenticationError(535, reply), redact)
    text = f"{outcome.smtp_reply} {outcome.error}"
    for secret in (PASSWORD, plain, _b64(USER), _b64(PASSWORD), _b64(PASSWORD).rstrip("=")):
        assert secret not in text
    assert text.count(REDACTED) >= 5


def test_an_accepted_message_keeps_the_reply_redacted_and_notes_refused_recipients() -> None:
    outcome = accepted(f"250 2.0.0 queued for {_b64(PASSWORD)}", {"b@x": "550 no"}, redact)
    assert outcome.kind == "sent" and outcome.smtp_code == 250
    assert outcome.smtp_reply == f"2.0.0 queued for {REDACTED}"
    assert outcome.error is not None and "b@x" in outcome.error


def test_without_credentials_nothing_is_redacted() -> None:
    assert Redactor(secret_forms("", ""))("250 OK") == "250 OK"
