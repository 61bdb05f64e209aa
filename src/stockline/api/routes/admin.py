"""/api/admin/config: recipients, global tracking, digest, webhooks (secrets write-only),
SMTP status (never the password)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from stockline import system_config
from stockline.alerts.alert_config import save_config
from stockline.alerts.digest import next_digest_at, stored_digest
from stockline.alerts.webhooks import stored_webhooks
from stockline.api.deps import Admin, Conn, ServicesDep
from stockline.api.schemas import ConfigIn, ConfigOut, DigestOut, SmtpOut, WebhookOut
from stockline.config import Settings

router = APIRouter(prefix="/api/admin", tags=["admin"])


def _config_out(cfg: system_config.RuntimeConfig, settings: Settings) -> ConfigOut:
    configured = bool(settings.smtp_host)
    digest = stored_digest(cfg.notification_digest)
    return ConfigOut(
        notification_recipients=cfg.notification_recipients,
        inventory_tracking_enabled=cfg.inventory_tracking_enabled,
        notification_digest=DigestOut(
            **digest.as_json(),
            next_at=next_digest_at(digest, datetime.now(UTC)) if digest.enabled else None,
        ),
        notification_webhooks=[
            WebhookOut(url=h.url, has_secret=bool(h.secret), channel=h.channel)
            for h in stored_webhooks(cfg.notification_webhooks)
        ],
        smtp=SmtpOut(
            configured=configured,
            host=settings.smtp_host or None,
            port=settings.smtp_port if configured else None,
            from_=settings.smtp_from if configured else None,
        ),
    )


@router.get("/config", response_model=ConfigOut, response_model_by_alias=True)
async def get_config(conn: Conn, admin: Admin, services: ServicesDep) -> ConfigOut:
    cfg = await system_config.read_config(conn, services.settings.admin_notification_emails)
    return _config_out(cfg, services.settings)


@router.put("/config", response_model=ConfigOut, response_model_by_alias=True)
async def put_config(body: ConfigIn, conn: Conn, admin: Admin, services: ServicesDep) -> ConfigOut:
    cfg = await save_config(
        conn,
        admin_id=admin.id,
        notification_recipients=body.notification_recipients,
        inventory_tracking_enabled=body.inventory_tracking_enabled,
        notification_digest=(
            body.notification_digest.model_dump() if body.notification_digest else None
        ),
        notification_webhooks=(
            [w.model_dump() for w in body.notification_webhooks]
            if body.notification_webhooks is not None
            else None
        ),
        seed_recipients=services.settings.admin_notification_emails,
    )
    services.config.ring()
    return _config_out(cfg, services.settings)
