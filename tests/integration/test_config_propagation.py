"""S-9: a settings change reaches every instance's cache within 1 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.fixtures.server import make_shop


def test_recipient_tracking_digest_and_webhook_changes_reach_another_instance_within_1s(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    # slow timer: only the NOTIFY doorbell can make it in time
    env = {"STOCKLINE_CONFIG_REFRESH_SECONDS": "10"}
    a = server_factory(fresh_db, env=env)
    b = server_factory(fresh_db, env=env)
    shop = make_shop(a)
    with shop.admin() as c:
        resp = c.put(
            "/api/admin/config",
            json={
                "notification_recipients": ["ops@shop.example.com", "boss@shop.example.com"],
                "inventory_tracking_enabled": False,
                "notification_digest": {
                    "enabled": True,
                    "times": ["08:00"],
                    "timezone": "Europe/Berlin",
                },
                "notification_webhooks": [{"url": "https://hooks.example.com/x", "secret": "s"}],
            },
        )
        assert resp.status_code == 200
    changed_at = time.monotonic()
    seen = None
    while time.monotonic() - changed_at < 1.0:
        seen = httpx.get(b.url + "/healthz").json()["config"]
        if seen["notification_recipients"] == 2 and seen["notification_webhooks"] == 1:
            break
        time.sleep(0.02)
    assert seen == {
        **seen,
        "notification_recipients": 2,
        "inventory_tracking_enabled": False,
        "notification_digest_enabled": True,
        "notification_webhooks": 1,
    }
    assert time.monotonic() - changed_at < 1.0


def test_recipients_are_seeded_from_the_environment_when_none_are_stored(
    fresh_db: str, server_factory: Callable[..., Any]
) -> None:
    server = server_factory(
        fresh_db,
        env={"ADMIN_NOTIFICATION_EMAILS": "alerts@shop.example.com, owner@shop.example.com"},
    )
    shop = make_shop(server)
    with shop.admin() as c:
        config = c.get("/api/admin/config").json()
    assert config["notification_recipients"] == [
        "alerts@shop.example.com",
        "owner@shop.example.com",
    ]
    assert config["smtp"] == {"configured": False, "host": None, "port": None, "from": None}
