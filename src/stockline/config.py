"""One Settings object, built once by the CLI or the app factory and passed down."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# never echoed in an error message (launch.describe_settings_error)
SECRET_SETTINGS = frozenset({"DATABASE_URL", "SMTP_PASSWORD"})
LOG_FORMATS = ("auto", "json", "text")


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("stockline"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Database: unset means "start the embedded PostgreSQL 18 in data_dir".
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    # Migrations as the schema's owner, the service as a role that owns nothing: when
    # set, migrations run through this URL and then grant DATABASE_URL's role what the
    # service needs (docs/security.md).
    migrate_database_url: SecretStr | None = Field(
        default=None, alias="STOCKLINE_MIGRATE_DATABASE_URL"
    )
    data_dir: Path = Field(default_factory=_default_data_dir, alias="STOCKLINE_DATA_DIR")
    pool_min_size: int = Field(default=2, ge=1, le=100, alias="STOCKLINE_POOL_MIN_SIZE")
    pool_max_size: int = Field(default=10, ge=1, le=200, alias="STOCKLINE_POOL_MAX_SIZE")
    db_connect_timeout: float = Field(default=5.0, gt=0, le=120, alias="STOCKLINE_DB_TIMEOUT")

    # HTTP
    public_url: str = Field(default="", alias="STOCKLINE_PUBLIC_URL")
    # ISO 4217 code the pages show prices in (formatted for the browser's locale)
    currency: str = Field(default="EUR", alias="STOCKLINE_CURRENCY")
    cookie_secure: bool = Field(default=False, alias="STOCKLINE_COOKIE_SECURE")
    session_hours: int = Field(default=12, ge=1, le=24 * 30, alias="STOCKLINE_SESSION_HOURS")
    login_max_failures: int = Field(default=5, ge=1, le=1000, alias="STOCKLINE_LOGIN_MAX_FAILURES")
    login_window_seconds: float = Field(default=300, gt=0, alias="STOCKLINE_LOGIN_WINDOW_SECONDS")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="STOCKLINE_MAX_BODY_BYTES")
    # POST /api/products/import only; the default is SPEC 3's 1 MiB, like every body (a
    # 10,000-line catalogue is about 0.5 MiB): raise it for larger catalogues
    import_max_bytes: int = Field(default=1024 * 1024, ge=1024, alias="STOCKLINE_IMPORT_MAX_BYTES")
    # Proxies whose X-Forwarded-For/-Proto are believed (the client address is what login
    # throttling counts). Comma-separated IPs or CIDRs; "*" trusts anyone (never do that
    # when the port is reachable from clients directly).
    forwarded_allow_ips: str = Field(default="127.0.0.1", alias="STOCKLINE_FORWARDED_ALLOW_IPS")
    # per worker process: connections plus running requests; beyond it uvicorn answers 503
    # (every open event stream counts, so leave room for them: 10,000 idle streams on two
    # workers were measured, docs/benchmarks.md)
    limit_concurrency: int = Field(
        default=8192, ge=16, le=1_000_000, alias="STOCKLINE_LIMIT_CONCURRENCY"
    )
    # a client must send a request's complete headers within this many seconds of
    # connecting (or of its previous answer), or the connection is closed (slowloris)
    header_timeout_seconds: float = Field(
        default=10, gt=0, le=300, alias="STOCKLINE_HEADER_TIMEOUT_SECONDS"
    )
    config_refresh_seconds: float = Field(
        default=5.0, gt=0, le=10, alias="STOCKLINE_CONFIG_REFRESH_SECONDS"
    )
    idempotency_hours: int = Field(default=48, ge=24, alias="STOCKLINE_IDEMPOTENCY_HOURS")
    # days a delivery takes: the reorder suggestion covers them (docs/manager.md)
    reorder_lead_days: int = Field(default=7, ge=0, le=365, alias="STOCKLINE_REORDER_LEAD_DAYS")

    # Events (S-11)
    event_retention_days: float = Field(default=7, gt=0, alias="STOCKLINE_EVENT_RETENTION_DAYS")
    sse_heartbeat_seconds: float = Field(
        default=15, gt=0, le=15, alias="STOCKLINE_SSE_HEARTBEAT_SECONDS"
    )
    sse_queue_size: int = Field(default=1000, ge=1, alias="STOCKLINE_SSE_QUEUE_SIZE")
    sse_retry_ms: int = Field(default=2000, ge=100, le=600_000, alias="STOCKLINE_SSE_RETRY_MS")
    sse_token_seconds: float = Field(default=60, gt=0, le=3600, alias="STOCKLINE_SSE_TOKEN_SECONDS")
    event_prune_seconds: float = Field(
        default=3600, gt=0, le=86400, alias="STOCKLINE_EVENT_PRUNE_SECONDS"
    )
    max_streams_per_principal: int = Field(
        default=16, ge=1, le=100_000, alias="STOCKLINE_MAX_STREAMS_PER_PRINCIPAL"
    )
    event_position_seconds: float = Field(
        default=0.25, gt=0, le=10, alias="STOCKLINE_EVENT_POSITION_SECONDS"
    )
    # kiosk purchases that arrive while the process's previous one is in the database go
    # together, up to this many, in one statement (inventory/purchase_batch.py); 1: never
    purchase_batch_max: int = Field(default=8, ge=1, le=64, alias="STOCKLINE_PURCHASE_BATCH_MAX")

    # Kiosk (SPEC §7.5): a basket untouched this long gets a countdown, then clears
    kiosk_idle_seconds: float = Field(
        default=90, ge=1, le=86400, alias="STOCKLINE_KIOSK_IDLE_SECONDS"
    )

    # Alerts (S-7, S-8, S-9, S-10)
    retry_schedule: str = Field(default="60,300,900", alias="STOCKLINE_RETRY_SCHEDULE")
    worker_poll_seconds: float = Field(default=30, gt=0, alias="STOCKLINE_WORKER_POLL_SECONDS")
    leader_retry_seconds: float = Field(
        default=2, gt=0, le=10, alias="STOCKLINE_LEADER_RETRY_SECONDS"
    )
    send_lease_seconds: float = Field(default=120, gt=0, alias="STOCKLINE_SEND_LEASE_SECONDS")
    smtp_timeout_seconds: float = Field(default=30, gt=0, alias="STOCKLINE_SMTP_TIMEOUT_SECONDS")
    webhook_timeout_seconds: float = Field(
        default=10, gt=0, le=120, alias="STOCKLINE_WEBHOOK_TIMEOUT_SECONDS"
    )
    admin_notification_emails: str = Field(default="", alias="ADMIN_NOTIFICATION_EMAILS")
    smtp_host: str = Field(default="", alias="SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, alias="SMTP_PORT")
    smtp_user: str = Field(default="", alias="SMTP_USER")
    smtp_password: SecretStr = Field(default=SecretStr(""), alias="SMTP_PASSWORD")
    smtp_from: str = Field(default="stockline@localhost", alias="SMTP_FROM")
    smtp_tls: str = Field(default="auto", alias="SMTP_TLS")

    # Process identity, for logs and the worker-leader report.
    instance_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12], alias="STOCKLINE_INSTANCE_ID"
    )
    log_level: str = Field(default="INFO", alias="STOCKLINE_LOG_LEVEL")
    # auto: text when stderr is a terminal, JSON lines otherwise (journald, files, pipes)
    log_format: str = Field(default="auto", alias="STOCKLINE_LOG_FORMAT")

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",")]
        if not any(parts):
            raise ValueError("must list at least one delay in seconds, e.g. 60,300,900")
        try:
            numbers = [float(p) for p in parts]
        except ValueError as exc:
            raise ValueError("must be comma-separated seconds, e.g. 60,300,900") from exc
        if any(not 0 <= n < 10**9 for n in numbers):  # NaN and inf fail this too
            raise ValueError("delays must be seconds between 0 and 10^9")
        return ",".join(parts)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (
            not value.startswith(("http://", "https://")) or not value.split("://", 1)[1]
        ):
            raise ValueError(
                "must be an absolute http:// or https:// URL, e.g. https://shop.example.com"
            )
        return value

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha() or not value.isascii():
            raise ValueError("must be a three-letter ISO 4217 code such as EUR, USD or GBP")
        return value

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in LOG_FORMATS:
            raise ValueError("must be one of auto, json, text")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("smtp_tls")
    @classmethod
    def _check_tls(cls, value: str) -> str:
        value = value.lower()
        if value == "none":  # release 1's name for off
            value = "off"
        if value not in {"auto", "starttls", "tls", "off"}:
            raise ValueError("SMTP_TLS must be one of auto, starttls, tls, off")
        return value

    @property
    def retry_delays(self) -> list[float]:
        return [float(p) for p in self.retry_schedule.split(",") if p]

    @property
    def hostname(self) -> str:
        return socket.gethostname()

    @property
    def pid(self) -> int:
        return os.getpid()

    def dsn(self) -> str:
        if self.database_url is None:
            raise RuntimeError("no database URL: start the embedded database first")
        return self.database_url.get_secret_value()
