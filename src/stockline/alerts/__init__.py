"""Alerting: notification states and retries, SMTP or capture, webhooks, digests, snoozes,
the leader lock and the worker (S-6…S-10, SPEC §7.4)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline.alerts.channels import Channels
from stockline.alerts.leader import LeaderElection, LeaderInfo
from stockline.alerts.lease import SEND_SHARE
from stockline.alerts.mailer import Mailer
from stockline.alerts.webhooks import WebhookSender
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
    channels = Channels(
        settings,
        pool,
        config,
        Mailer(settings, pool),
        # like a mail, a POST always ends inside its lease (SPEC §7.1: no double delivery)
        WebhookSender(
            min(settings.webhook_timeout_seconds, settings.send_lease_seconds * SEND_SHARE)
        ),
    )
    return Worker(settings, pool, leader, config, channels)
