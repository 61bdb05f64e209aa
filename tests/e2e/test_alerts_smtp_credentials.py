"""SPEC §7.1: with SMTP_USER set, credentials travel only over TLS.

The real aiosmtpd here offers no STARTTLS. With SMTP_TLS=auto (the default) and a user
set, release 1 sent AUTH PLAIN in the clear on every attempt; now the attempt fails
with a clear error and the server sees no AUTH at all. Plain AUTH takes SMTP_TLS=off,
and the process warns at start. A reply that echoes the credentials' base64 forms is
stored, and shown, redacted.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.alerts_support import STAFF, buy, one_notification, wait_status
from tests.fixtures.server import Server, Shop, make_shop
from tests.fixtures.smtp import SmtpServer

USER, PASSWORD = "stockline@shop.example.com", "Smtp-Pw-ee6f1c0d"


def _shop(db_url: str, server_factory: Any, smtp: SmtpServer, tls: str) -> Shop:
    env = {
        **smtp.env(SMTP_USER=USER, SMTP_PASSWORD=PASSWORD, SMTP_TLS=tls),
        "ADMIN_NOTIFICATION_EMAILS": STAFF,
    }
    server: Server = server_factory(db_url, env=env)
    return make_shop(server)


def _breach(shop: Shop) -> dict[str, Any]:
    product = shop.create_product(stock=2, threshold=1)
    buy(shop, product["id"])
    return one_notification(shop.db_url, product["id"])


def _detail(shop: Shop, notification_id: int) -> dict[str, Any]:
    with shop.admin() as c:
        resp = c.get(f"/api/admin/notifications/{notification_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _actions(shop: Shop, action: str) -> list[dict[str, Any]]:
    lines = shop.server.log_text().splitlines()
    return [json.loads(line) for line in lines if f'"action": "{action}"' in line]


def test_no_starttls_on_offer_means_no_auth_and_a_clear_failure(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    smtp_server.handler.logins.clear()
    shop = _shop(fresh_db, server_factory, smtp_server, "auto")
    note = _breach(shop)
    wait_status(fresh_db, note["id"], "failed")
    detail = _detail(shop, note["id"])
    assert "SMTP_TLS=off" in detail["error_details"]
    assert "in the clear" in detail["error_details"]
    (attempt,) = detail["attempts"]
    assert attempt["outcome"] == "permanent"
    assert smtp_server.handler.logins == []  # the password never left
    assert smtp_server.received() == []
    assert PASSWORD not in shop.server.log_text()


def test_smtp_tls_off_sends_plain_auth_and_warns_at_start(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    smtp_server.reset()
    smtp_server.handler.logins.clear()
    shop = _shop(fresh_db, server_factory, smtp_server, "off")
    (warning,) = _actions(shop, "smtp_plain_auth")
    assert warning["level"] == "warning" and "without TLS" in warning["msg"]
    note = _breach(shop)
    wait_status(fresh_db, note["id"], "sent")
    assert (USER, PASSWORD) in smtp_server.handler.logins


def test_credentials_echoed_in_a_reply_are_stored_and_shown_redacted(
    fresh_db: str, server_factory: Any, smtp_server: SmtpServer
) -> None:
    smtp_server.reset("echo_auth")
    shop = _shop(fresh_db, server_factory, smtp_server, "off")
    note = _breach(shop)
    wait_status(fresh_db, note["id"], "failed")
    with shop.admin() as c:
        shown = c.get(f"/api/admin/notifications/{note['id']}").text
        listed = c.get("/api/admin/notifications").text
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    login = base64.b64encode(PASSWORD.encode()).decode()
    assert "[redacted]" in shown
    for text in (shown, listed, shop.server.log_text()):
        assert plain not in text and login not in text and PASSWORD not in text


def test_with_starttls_on_offer_auto_logs_in_over_tls_and_sends(
    fresh_db: str, server_factory: Any, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    smtp = SmtpServer(tls_context=context).start()
    try:
        env = {
            **smtp.env(SMTP_USER=USER, SMTP_PASSWORD=PASSWORD, SMTP_TLS="auto"),
            "ADMIN_NOTIFICATION_EMAILS": STAFF,
            "SSL_CERT_FILE": str(cert),  # the service trusts this test's own CA only
        }
        shop = make_shop(server_factory(fresh_db, env=env))
        note = _breach(shop)
        wait_status(fresh_db, note["id"], "sent")
    finally:
        smtp.stop()
    # this server refuses AUTH before STARTTLS: the login happened over TLS
    assert smtp.handler.logins == [(USER, PASSWORD)]
    assert [r.message_id for r in smtp.accepted()] == [note["message_id"]]
    assert _actions(shop, "smtp_plain_auth") == []
