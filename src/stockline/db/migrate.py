"""Forward-only versioned migrations, applied under an advisory lock."""

from __future__ import annotations

import logging
import re
from importlib import resources

import psycopg
from psycopg import sql

from stockline.config import Settings

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
    """Apply pending migrations; returns the names applied by this call.

    With nothing pending this runs no DDL at all, so a service role that owns nothing
    (STOCKLINE_MIGRATE_DATABASE_URL did the migrating) passes through it.
    """
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Session lock: a second process waits here, then finds nothing to do.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
            if not (row and row[0]):
                conn.execute(
                    "CREATE TABLE schema_migrations ("
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


# What the service role may do: read and write rows, never rewrite history or the
# schema. The ledger is SELECT + INSERT only; no TRUNCATE anywhere; no ownership, so no
# ALTER TABLE ... DISABLE TRIGGER. The trigger functions run as the service role, which
# therefore keeps UPDATE on the tables they maintain (docs/security.md says what that
# leaves open).
_GRANTS: list[sql.SQL] = [
    sql.SQL("GRANT USAGE ON SCHEMA {schema} TO {role}"),
    sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
    sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
    sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON inventory_ledger FROM {role}"),
    sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {role}"),
]


def grant_service_role(owner_dsn: str, service_dsn: str) -> str:
    """Grant the role of `service_dsn` what `serve` needs, through the owner's
    connection; returns the role's name. Idempotent: run after every migrate."""
    with psycopg.connect(service_dsn) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    role = str(row[0])
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        found = conn.execute("SELECT current_user, current_schema()").fetchone()
        assert found is not None
        owner, schema = str(found[0]), str(found[1])
        if role == owner:
            return role  # one role for both: nothing to grant
        with conn.transaction():
            for statement in _GRANTS:
                conn.execute(
                    statement.format(schema=sql.Identifier(schema), role=sql.Identifier(role))
                )
    return role


def migrate_for(settings: Settings) -> tuple[list[str], str | None]:
    """Migrate as STOCKLINE_MIGRATE_DATABASE_URL's owner when set, then grant
    DATABASE_URL's role; else as DATABASE_URL. Returns (applied, granted role)."""
    owner = settings.migrate_database_url
    if owner is None:
        return migrate(settings.dsn()), None
    applied = migrate(owner.get_secret_value())
    return applied, grant_service_role(owner.get_secret_value(), settings.dsn())
