"""/api/admin/config: recipients, global tracking, SMTP status (never the password)."""

from __future__ import annotations

from fastapi import APIRouter

from stockline import system_config
from stockline.api.deps import Admin, Conn, ServicesDep
from stockline.api.schemas import ConfigIn, ConfigOut, SmtpOut
from stockline.config import Settings

router = APIRouter(prefix="/api/admin", tags=["admin"])


def _config_out(cfg: system_config.RuntimeConfig, settings: Settings) -> ConfigOut:
    configured = bool(settings.smtp_host)
    return ConfigOut(
        notification_recipients=cfg.notification_recipients,
        inventory_tracking_enabled=cfg.inventory_tracking_enabled,
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
    cfg = await system_config.update_config(
        conn,
        admin_id=admin.id,
        notification_recipients=body.notification_recipients,
        inventory_tracking_enabled=body.inventory_tracking_enabled,
        seed_recipients=services.settings.admin_notification_emails,
    )
    services.config.ring()
    return _config_out(cfg, services.settings)
