"""Runtime settings staff edit: notification recipients, global tracking (S-4, S-9), the
digest schedule and the webhooks (SPEC §7.4; validated by stockline.alerts, stored here
as JSON so this room needs nothing above the database).

Each process keeps a cache, refreshed at once on NOTIFY stockline_config and
every few seconds anyway, so a change reaches every instance within 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from email_validator import EmailNotValidError, validate_email
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from stockline.db.queries import load
from stockline.errors import InvalidInput
from stockline.events.positions import number_committed

log = logging.getLogger(__name__)
_Q = load("system_config")


@dataclass(frozen=True)
class RuntimeConfig:
    notification_recipients: list[str]
    inventory_tracking_enabled: bool
    # as stored: {enabled, times, timezone} or None; [{url, secret}] (secrets write-only)
    notification_digest: dict[str, Any] | None = None
    notification_webhooks: list[dict[str, Any]] = field(default_factory=list)


def normalise_recipients(addresses: list[str]) -> list[str]:
    """RFC 5322 syntax without DNS; every bad address is named in one error. An address
    given twice, also in another letter case, is kept once, as first written: mail
    systems treat the local part case-insensitively, and a second copy would mail the
    same mailbox twice for every alert."""
    good: list[str] = []
    seen: set[str] = set()
    errors: list[dict[str, object]] = []
    for index, address in enumerate(addresses):
        try:
            checked = validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            errors.append(
                {
                    "loc": ["notification_recipients", index],
                    "input": address,
                    "msg": f"{address!r} is not a valid email address: {exc}",
                }
            )
            continue
        folded = checked.normalized.casefold()
        if folded not in seen:
            seen.add(folded)
            good.append(checked.normalized)
    if errors:
        names = ", ".join(repr(e["input"]) for e in errors)
        raise InvalidInput(f"invalid email address(es): {names}", errors=errors)
    return good


def _parse_env_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


async def read_config(
    conn: psycopg.AsyncConnection[Any], seed_recipients: str = ""
) -> RuntimeConfig:
    cur = await conn.execute(_Q["select_config"])
    values = {row["key"]: row["value"] for row in await cur.fetchall()}
    recipients = values.get("notification_recipients")
    if recipients is None:
        # ADMIN_NOTIFICATION_EMAILS seeds the list while none is stored (S-9)
        try:
            recipients = normalise_recipients(_parse_env_list(seed_recipients))
        except InvalidInput:
            log.warning(
                "ADMIN_NOTIFICATION_EMAILS holds an invalid address; ignored",
                extra={"action": "config_seed_invalid"},
            )
            recipients = []
    tracking = values.get("inventory_tracking_enabled", True)
    digest = values.get("notification_digest")
    hooks = values.get("notification_webhooks")
    return RuntimeConfig(
        list(recipients),
        bool(tracking),
        digest if isinstance(digest, dict) else None,
        list(hooks) if isinstance(hooks, list) else [],
    )


async def update_config(
    conn: psycopg.AsyncConnection[Any],
    *,
    admin_id: int | None,
    notification_recipients: list[str] | None = None,
    inventory_tracking_enabled: bool | None = None,
    notification_digest: dict[str, Any] | None = None,
    notification_webhooks: list[dict[str, Any]] | None = None,
    seed_recipients: str = "",
) -> RuntimeConfig:
    """The digest and webhook values arrive validated (stockline.alerts parses them)."""
    recipients = (
        normalise_recipients(notification_recipients)
        if notification_recipients is not None
        else None
    )
    toggled = False
    async with conn.transaction():
        if recipients is not None:
            await conn.execute(
                _Q["upsert_config"],
                {
                    "key": "notification_recipients",
                    "value": Jsonb(recipients),
                    "admin_id": admin_id,
                },
            )
        for key, value in (
            ("notification_digest", notification_digest),
            ("notification_webhooks", notification_webhooks),
        ):
            if value is not None:
                await conn.execute(
                    _Q["upsert_config"], {"key": key, "value": Jsonb(value), "admin_id": admin_id}
                )
        if inventory_tracking_enabled is not None:
            cur = await conn.execute(_Q["lock_tracking"])
            row = await cur.fetchone()
            before = True if row is None else bool(row["value"])
            await conn.execute(
                _Q["upsert_config"],
                {
                    "key": "inventory_tracking_enabled",
                    "value": Jsonb(inventory_tracking_enabled),
                    "admin_id": admin_id,
                },
            )
            if before != inventory_tracking_enabled:
                toggled = True
                await conn.execute(
                    _Q["insert_event"],
                    {
                        "type": "tracking-toggled",
                        "payload": json.dumps(
                            {"scope": "global", "enabled": inventory_tracking_enabled}
                        ),
                    },
                )
        config = await read_config(conn, seed_recipients)
    if toggled:
        await number_committed(conn)  # the tracking-toggled event
    return config


class ConfigCache:
    """The latest RuntimeConfig, refreshed on a doorbell or a timer."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        seed_recipients: str,
        refresh_seconds: float,
    ) -> None:
        self._pool = pool
        self._seed = seed_recipients
        self._refresh_seconds = refresh_seconds
        self._wake = asyncio.Event()
        self.current = RuntimeConfig([], True)
        self.refreshed_at: str | None = None

    def ring(self) -> None:
        self._wake.set()

    def health(self) -> dict[str, object]:
        """What this process currently believes (no addresses: counts only)."""
        digest = self.current.notification_digest or {}
        return {
            "notification_recipients": len(self.current.notification_recipients),
            "inventory_tracking_enabled": self.current.inventory_tracking_enabled,
            "notification_digest_enabled": bool(digest.get("enabled")),
            "notification_webhooks": len(self.current.notification_webhooks),
            "refreshed_at": self.refreshed_at,
        }

    async def refresh(self) -> RuntimeConfig:
        async with self._pool.connection() as conn:
            self.current = await read_config(conn, self._seed)
        self.refreshed_at = datetime.now(UTC).isoformat()
        return self.current

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._refresh_seconds)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # database away: keep the last known value, retry soon
                log.warning("config refresh failed", extra={"action": "config_refresh_failed"})
