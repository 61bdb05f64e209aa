"""Saving the alert settings of PUT /api/admin/config in one transaction: recipients and
tracking (system_config validates those), the digest schedule with its stored slots, and
the webhooks with their write-only secrets (SPEC §7.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from stockline import system_config
from stockline.alerts import digest_store
from stockline.alerts.digest import parse_digest
from stockline.alerts.webhooks import parse_webhooks, stored_webhooks


async def save_config(
    conn: psycopg.AsyncConnection[Any],
    *,
    admin_id: int | None,
    notification_recipients: list[str] | None,
    inventory_tracking_enabled: bool | None,
    notification_digest: dict[str, Any] | None,
    notification_webhooks: list[dict[str, Any]] | None,
    seed_recipients: str,
) -> system_config.RuntimeConfig:
    # everything is validated before anything is written: a 422 changes nothing
    digest = parse_digest(notification_digest) if notification_digest is not None else None
    hooks = None
    if notification_webhooks is not None:
        current = await system_config.read_config(conn, seed_recipients)
        hooks = parse_webhooks(
            notification_webhooks, stored_webhooks(current.notification_webhooks)
        )
    async with conn.transaction():
        cfg = await system_config.update_config(
            conn,
            admin_id=admin_id,
            notification_recipients=notification_recipients,
            inventory_tracking_enabled=inventory_tracking_enabled,
            notification_digest=digest.as_json() if digest is not None else None,
            notification_webhooks=[h.stored() for h in hooks] if hooks is not None else None,
            seed_recipients=seed_recipients,
        )
        if digest is not None:
            await digest_store.apply_schedule(conn, digest, datetime.now(UTC))
    return cfg
