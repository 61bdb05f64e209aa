"""What staff receive: the alert mail (one notification) or the digest (several), in plain
text and HTML with every value escaped, and the JSON a webhook gets. The Message-ID is the
notification's (or the digest's), the same on every attempt (S-7)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any


@dataclass(frozen=True)
class Mail:
    message_id: str
    recipients: list[str]
    subject: str
    body_text: str
    body_html: str

    def to_email(self, sender: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = self.subject
        # the same Message-ID on every attempt, so a resend is recognisable (S-7)
        msg["Message-ID"] = self.message_id
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.body_text)
        msg.add_alternative(self.body_html, subtype="html")
        return msg


@dataclass(frozen=True)
class Movement:
    created_at: datetime
    delta: int
    source: str
    reason: str | None
    actor: str


@dataclass(frozen=True)
class Facts:
    """The product at send time: what the breach payload cannot know (a retry may go out
    minutes later) and what staff need to decide (SPEC §7.4)."""

    sku: str
    name: str
    low_stock_threshold: int | None
    current_stock: int
    sold_per_day: float | None
    days_of_cover: float | None
    movements: tuple[Movement, ...] = field(default=())


@dataclass(frozen=True)
class Alert:
    """One notification, as the mail and the webhook present it."""

    id: int
    type: str
    message_id: str
    product_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    facts: Facts | None

    @property
    def name(self) -> str:
        return str(self.facts.name if self.facts else self.payload.get("name") or "?")

    @property
    def sku(self) -> str:
        return str(self.facts.sku if self.facts else self.payload.get("sku") or "?")

    @property
    def current(self) -> Any:
        return self.facts.current_stock if self.facts else self.payload.get("current_stock")

    @property
    def threshold(self) -> Any:
        return self.payload.get("threshold")

    def headline(self) -> str:
        if self.type == "negative_stock":
            return f"Negative stock: {self.name} ({self.sku}) is at {self.current}"
        return (
            f"Low stock: {self.name} ({self.sku}) has {self.current} left,"
            f" threshold {self.threshold}"
        )

    def what_to_do(self) -> str:
        if self.type == "negative_stock":
            return (
                "More was sold than the system knew was there: count it and reconcile, "
                "a delivery or an adjustment is probably missing."
            )
        return "It has fallen to its low-stock threshold: reorder or restock it."


def _one_line(text: str) -> str:
    # a header must not carry CR/LF (a product name could); collapse all whitespace runs
    return " ".join(text.split())


def admin_link(public_url: str) -> str:
    """The portal's absolute URL, or "" without STOCKLINE_PUBLIC_URL: a relative /admin
    means nothing in a mail client."""
    base = public_url.strip().rstrip("/")
    return f"{base}/admin" if base else ""


def _portal_line(public_url: str) -> list[str]:
    link = admin_link(public_url)
    return [f"Admin portal: {link}"] if link else []


def product_link(public_url: str, product_id: int | None) -> str | None:
    """An absolute link, only when STOCKLINE_PUBLIC_URL says where the portal lives."""
    base = public_url.strip().rstrip("/")
    if not base:
        return None
    return f"{base}/admin#product-{product_id}" if product_id else f"{base}/admin"


def _fmt_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M %Z").strip()


def _rows(alert: Alert) -> list[tuple[str, str]]:
    f = alert.facts
    rows = [
        ("Product", alert.name),
        ("SKU", alert.sku),
        ("Current stock", str(alert.current)),
        ("Threshold", str(alert.threshold)),
    ]
    at_breach = alert.payload.get("current_stock")
    if at_breach is not None and at_breach != alert.current:
        rows.append(("Stock at breach", str(at_breach)))
    if f is not None:
        sold = "none" if not f.sold_per_day else f"{f.sold_per_day:g}"
        rows.append(("Sold per day", f"{sold} (last 28 days)"))
        cover = "n/a (nothing sold)" if f.days_of_cover is None else f"{f.days_of_cover:g}"
        rows.append(("Days of cover", cover))
    if alert.payload.get("detected_at"):
        rows.append(("Detected at", str(alert.payload["detected_at"])))
    return rows


def _movement_cells(m: Movement) -> tuple[str, str, str, str]:
    how = f"{m.delta:+d}"
    what = m.source + (f" ({m.reason})" if m.reason else "")
    return _fmt_time(m.created_at), m.actor, how, what


def _text_block(alert: Alert, public_url: str) -> list[str]:
    lines = [f"{alert.name} (SKU {alert.sku}): {alert.what_to_do()}", ""]
    lines += [f"  {k + ':':<16}{v}" for k, v in _rows(alert)]
    if alert.facts and alert.facts.movements:
        lines += ["", "  Last movements (newest first):"]
        for m in alert.facts.movements:
            when, who, how, what = _movement_cells(m)
            lines.append(f"    {when}  {how:>6}  {who}  {what}")
    link = product_link(public_url, alert.product_id)
    if link:
        lines += ["", f"  Open it: {link}"]
    return lines


def _html_block(alert: Alert, public_url: str) -> str:
    e = html.escape
    table = "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _rows(alert)
    )
    out = f"<h3>{e(alert.headline())}</h3><p>{e(alert.what_to_do())}</p><table>{table}</table>"
    if alert.facts and alert.facts.movements:
        cells = "".join(
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in _movement_cells(m)) + "</tr>"
            for m in alert.facts.movements
        )
        out += (
            "<p>Last movements (newest first):</p><table><tr><th>When</th><th>Who</th>"
            f"<th>How much</th><th>What</th></tr>{cells}</table>"
        )
    link = product_link(public_url, alert.product_id)
    if link:
        out += (
            f'<p><a href="{e(link, quote=True)}">Open {e(alert.name)} in the admin portal</a></p>'
        )
    return out


def alert_mail(*, alert: Alert, recipients: list[str], public_url: str) -> Mail:
    lines = _text_block(alert, public_url)
    lines += [
        "",
        *_portal_line(public_url),
        "",
        "You get one message per crossing; the next comes only after the product has",
        "recovered (restocked above its threshold, or back at zero or more) and falls again.",
    ]
    body_html = (
        "<!doctype html><html><body>"
        + _html_block(alert, public_url)
        + "<p><small>One message per crossing; the next comes only after the product has "
        "recovered and falls again.</small></p></body></html>"
    )
    return Mail(
        alert.message_id,
        recipients,
        _one_line(alert.headline()),
        "\n".join(lines) + "\n",
        body_html,
    )


def digest_mail(
    *, message_id: str, alerts: Sequence[Alert], recipients: list[str], public_url: str
) -> Mail:
    count = len(alerts)
    names = ", ".join(a.name for a in alerts[:3]) + (", …" if count > 3 else "")
    subject = _one_line(f"Stock digest: {count} alert{'s' if count != 1 else ''}: {names}")
    lines = [f"{count} stock alert{'s' if count != 1 else ''} since the last digest:", ""]
    for a in alerts:
        lines += [f"* {a.headline()}", *_text_block(a, public_url), ""]
    lines += _portal_line(public_url)
    body_html = (
        "<!doctype html><html><body>"
        f"<p>{count} stock alert{'s' if count != 1 else ''} since the last digest:</p>"
        + "<hr>".join(_html_block(a, public_url) for a in alerts)
        + "</body></html>"
    )
    return Mail(message_id, recipients, subject, "\n".join(lines) + "\n", body_html)


def webhook_body(alert: Alert, public_url: str) -> bytes:
    """The JSON every webhook receives. `text` makes it readable as is by Slack-compatible
    incoming webhooks; `id` and `message_id` stay the same on a retry, for deduplication."""
    f = alert.facts
    doc = {
        "id": alert.id,
        "type": alert.type,
        "message_id": alert.message_id,
        "product_id": alert.product_id,
        "sku": alert.sku,
        "name": alert.name,
        "current_stock": alert.current,
        "threshold": alert.threshold,
        "sold_per_day": f.sold_per_day if f else None,
        "days_of_cover": f.days_of_cover if f else None,
        "detected_at": alert.payload.get("detected_at"),
        "created_at": alert.created_at.isoformat(),
        "link": product_link(public_url, alert.product_id),
        "text": alert.headline(),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
