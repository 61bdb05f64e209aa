"""Forward-only versioned migrations, applied under an advisory lock."""

from __future__ import annotations

import logging
import re
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# Any stable number: every process that migrates takes this lock first.
MIGRATION_LOCK_KEY = 0x5707_C411_0001

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("stockline.db").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort()
    # two branches merged at once can both take the next number; refuse to guess an order
    seen: dict[int, str] = {}
    for version, name, _ in found:
        if version in seen:
            raise RuntimeError(f"two migrations share version {version}: {seen[version]}, {name}")
        seen[version] = name
    return found


def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; returns the names applied by this call."""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Session lock: a second process waits here, then finds nothing to do.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, text in available_migrations():
                if version in done:
                    continue
                log.info("applying migration", extra={"action": "migrate", "migration": name})
                with conn.transaction():
                    conn.execute(text)  # a shipped migration file, never input
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied
