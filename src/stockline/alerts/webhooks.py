"""Webhook channels (SPEC §7.4): every notification is also POSTed as JSON, signed
`X-Stockline-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`.

2xx is delivered; 408, 429, 5xx, timeouts and connection errors are transient (retried
on the schedule, no sooner than Retry-After); any other answer is permanent. Secrets are
write-only: stored for signing, never returned, logged or echoed in an error. A URL can
itself be a credential (Slack's are), so logs and attempts name a channel instead.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from stockline import __version__
from stockline.alerts.notifications import Outcome
from stockline.errors import InvalidInput

SIGNATURE_HEADER = "X-Stockline-Signature"
MAX_WEBHOOKS = 10
MAX_URL = 2048
MAX_SECRET = 256
RETRY_AFTER_CAP = 24 * 3600.0
_TRANSIENT = {408, 429}
_MAX_TEXT = 300


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str = field(repr=False)

    @property
    def channel(self) -> str:
        return channel_name(self.url)

    def stored(self) -> dict[str, str]:
        return {"url": self.url, "secret": self.secret}


def channel_name(url: str) -> str:
    """Names a webhook in attempts and logs without its path (which may be a token)."""
    host = urlsplit(url).hostname or "?"
    return f"webhook:{host}:{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: PostgreSQL cannot store it
        return False
    return True


def _url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not _encodable(url):
        return f"url must be a text of 1 to {MAX_URL} characters"
    if any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in url):
        return "url must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in {"http", "https"}:
        return "url must start with http:// or https://"
    if not parts.hostname:
        return "url needs a host"
    if parts.username is not None or parts.password is not None:
        return "url must not carry credentials (user:password@); use the secret"
    return None


def parse_webhooks(value: Any, stored: list[Webhook]) -> list[Webhook]:
    """Validate an admin's list. A webhook given without a secret keeps the secret stored
    for the same URL (secrets are never shown, so the portal cannot send them back)."""
    if not isinstance(value, list) or len(value) > MAX_WEBHOOKS:
        raise InvalidInput(f"notification_webhooks: a list of at most {MAX_WEBHOOKS} is allowed")
    known = {w.url: w.secret for w in stored}
    errors: list[dict[str, object]] = []
    hooks: list[Webhook] = []
    for index, item in enumerate(value):
        loc: list[object] = ["notification_webhooks", index]

        def bad(msg: str, where: str, loc: list[object] = loc, index: int = index) -> None:
            # never the submitted value: a URL or secret may be a credential
            errors.append(
                {"loc": [*loc, where], "msg": f"webhook {index}: {msg}", "type": "value_error"}
            )

        if not isinstance(item, dict):
            bad("must be an object {url, secret}", "url")
            continue
        url = item.get("url")
        problem = _url_problem(url)
        if problem:
            bad(problem, "url")
            continue
        assert isinstance(url, str)
        secret = item.get("secret")
        if secret is None or secret == "":
            secret = known.get(url)
            if secret is None:
                bad("a new webhook needs a secret", "secret")
                continue
        elif (
            not isinstance(secret, str)
            or len(secret) > MAX_SECRET
            or any(ord(ch) < 32 for ch in secret)
            or not _encodable(secret)
        ):
            bad(f"secret must be text of 1 to {MAX_SECRET} printable characters", "secret")
            continue
        if any(h.url == url for h in hooks):
            bad("the same url is listed twice", "url")
            continue
        hooks.append(Webhook(url, secret))
    if errors:
        detail = "notification_webhooks: " + "; ".join(str(e["msg"]) for e in errors)
        raise InvalidInput(detail, errors=errors)
    return hooks


def stored_webhooks(value: Any) -> list[Webhook]:
    if not isinstance(value, list):
        return []
    return [
        Webhook(str(v["url"]), str(v["secret"]))
        for v in value
        if isinstance(v, dict) and "url" in v and "secret" in v
    ]


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); nonsense is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = (at - now).total_seconds()
    return None if not math.isfinite(seconds) else min(max(seconds, 0.0), RETRY_AFTER_CAP)


def classify_response(status: int, retry_after: str | None, text: str, now: datetime) -> Outcome:
    if 200 <= status < 300:
        return Outcome("sent", http_status=status)
    reply = " ".join(text.split())[:_MAX_TEXT]
    error = f"HTTP {status}" + (f": {reply}" if reply else "")
    if status in _TRANSIENT or 500 <= status < 600:
        return Outcome(
            "transient",
            http_status=status,
            error=error,
            retry_after=retry_after_seconds(retry_after, now),
        )
    return Outcome("permanent", http_status=status, error=error)


class WebhookSender:
    """One pooled HTTP client per process; redirects are not followed (a 3xx is permanent)."""

    def __init__(self, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": f"stockline/{__version__}"},
        )

    async def post(self, hook: Webhook, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            resp = await self._client.post(
                hook.url,
                content=body,
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(hook.secret, body),
                },
            )
        except httpx.TimeoutException:
            return Outcome("transient", error="timeout: no answer in time")
        except (httpx.HTTPError, OSError) as exc:
            detail = str(exc).replace(hook.url, hook.channel)[:_MAX_TEXT]
            return Outcome("transient", error=f"{type(exc).__name__}: {detail}")
        return classify_response(
            resp.status_code, resp.headers.get("retry-after"), resp.text, datetime.now(UTC)
        )

    async def aclose(self) -> None:
        await self._client.aclose()
