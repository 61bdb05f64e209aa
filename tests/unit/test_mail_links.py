"""The low-stock mail links to the portal only by an absolute URL."""

from __future__ import annotations

from stockline.alerts.message import low_stock_mail

PAYLOAD = {"name": "Cola", "sku": "COLA-033", "current_stock": 2, "threshold": 5}


def test_the_mail_links_to_the_public_url() -> None:
    mail = low_stock_mail(
        message_id="<1@x>",
        recipients=["a@x.example"],
        payload=PAYLOAD,
        now=None,
        public_url="https://shop.example.com/",
    )
    assert "https://shop.example.com/admin" in mail.body_text
    assert 'href="https://shop.example.com/admin"' in mail.body_html


def test_without_a_public_url_the_mail_has_no_relative_link() -> None:
    mail = low_stock_mail(
        message_id="<1@x>", recipients=["a@x.example"], payload=PAYLOAD, now=None, public_url=""
    )
    assert "/admin" not in mail.body_text and "href" not in mail.body_html
    assert "stockline admin portal" in mail.body_text
