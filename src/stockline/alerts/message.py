"""The low-stock mail: plain text and HTML, with the notification's stable Message-ID."""

from __future__ import annotations

import html
from dataclasses import dataclass
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


def _one_line(text: str) -> str:
    # a header must not carry CR/LF (a product name could); collapse all whitespace runs
    return " ".join(text.split())


def admin_link(public_url: str) -> str:
    base = public_url.strip().rstrip("/")
    return f"{base}/admin" if base else "/admin"


def low_stock_mail(
    *,
    message_id: str,
    recipients: list[str],
    payload: dict[str, Any],
    now: dict[str, Any] | None,
    public_url: str,
) -> Mail:
    """payload is the breach as the trigger saw it; now is the product at send time, if any."""
    name = str((now or {}).get("name") or payload.get("name") or "?")
    sku = str((now or {}).get("sku") or payload.get("sku") or "?")
    at_breach = payload.get("current_stock")
    threshold = payload.get("threshold")
    current = (now or {}).get("current_stock", at_breach)
    link = admin_link(public_url)
    subject = _one_line(f"Low stock: {name} ({sku}) is at {current}, threshold {threshold}")
    lines = [
        f"{name} (SKU {sku}) has fallen to its low-stock threshold.",
        "",
        f"  Product:        {name}",
        f"  SKU:            {sku}",
        f"  Current stock:  {current}",
        f"  Threshold:      {threshold}",
    ]
    if at_breach is not None and at_breach != current:
        lines.append(f"  Stock at breach: {at_breach}")
    if payload.get("detected_at"):
        lines.append(f"  Detected at:    {payload['detected_at']}")
    lines += [
        "",
        f"Restock or adjust it in the admin portal: {link}",
        "",
        "You get one message per breach; the next comes only after the product has been",
        "restocked above its threshold and falls again.",
    ]
    e = html.escape
    rows = [
        ("Product", name),
        ("SKU", sku),
        ("Current stock", str(current)),
        ("Threshold", str(threshold)),
    ]
    if at_breach is not None and at_breach != current:
        rows.append(("Stock at breach", str(at_breach)))
    table = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    body_html = (
        "<!doctype html><html><body>"
        f"<p><strong>{e(name)}</strong> (SKU {e(sku)}) has fallen to its low-stock threshold.</p>"
        f"<table>{table}</table>"
        f'<p><a href="{e(link, quote=True)}">Open the admin portal</a>'
        " to restock or adjust it.</p>"
        "<p><small>One message per breach; the next comes only after a restock above the "
        "threshold and a new fall.</small></p>"
        "</body></html>"
    )
    return Mail(message_id, recipients, subject, "\n".join(lines) + "\n", body_html)
