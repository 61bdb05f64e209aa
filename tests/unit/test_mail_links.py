"""Alert mail links to the portal only by an absolute URL (STOCKLINE_PUBLIC_URL)."""

from __future__ import annotations

from datetime import UTC, datetime

from stockline.alerts.message import Alert, alert_mail, digest_mail

ALERT = Alert(
    id=1,
    type="low_stock",
    message_id="<1@x>",
    product_id=7,
    payload={"name": "Cola", "sku": "COLA-033", "current_stock": 2, "threshold": 5},
    created_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    facts=None,
)


def test_the_mail_links_to_the_public_url() -> None:
    mail = alert_mail(alert=ALERT, recipients=["a@x.example"], public_url="https://shop.example/")
    assert "https://shop.example/admin" in mail.body_text
    assert 'href="https://shop.example/admin#product-7"' in mail.body_html


def test_without_a_public_url_no_mail_carries_a_relative_link() -> None:
    for mail in (
        alert_mail(alert=ALERT, recipients=["a@x.example"], public_url=""),
        digest_mail(message_id="<d@x>", alerts=[ALERT], recipients=["a@x.example"], public_url=""),
    ):
        assert "/admin" not in mail.body_text
        assert "/admin" not in (mail.body_html or "") and "href" not in (mail.body_html or "")
