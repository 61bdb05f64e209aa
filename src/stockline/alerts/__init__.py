"""Low-stock alerting: notification states and retries, SMTP or capture, the leader
lock and the worker (S-6…S-10)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline.alerts.leader import LeaderElection, LeaderInfo
from stockline.alerts.mailer import Mailer
from stockline.alerts.worker import Worker
from stockline.config import Settings
from stockline.system_config import ConfigCache

NOTIFICATIONS_CHANNEL = "stockline_notifications"

__all__ = [
    "NOTIFICATIONS_CHANNEL",
    "LeaderElection",
    "LeaderInfo",
    "Mailer",
    "Worker",
    "build_worker",
]


def build_worker(
    settings: Settings,
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    config: ConfigCache,
) -> Worker:
    leader = LeaderElection(settings)
    return Worker(settings, pool, leader, config, Mailer(settings, pool))
