"""Migrations: versioned, recorded, and safe when two processes start at once."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from stockline.db.migrate import available_migrations
from tests.fixtures.postgres import create_database, drop_database, with_dbname


def test_two_processes_migrating_at_once_apply_each_migration_once(pg_admin_url: str) -> None:
    name = create_database(pg_admin_url)
    url = with_dbname(pg_admin_url, name)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "stockline", "migrate"],
                env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        # each prints what it applied ("applied 0001_core.sql, ...") or that none was left
        applied_by = [
            len(out.removeprefix("applied ").split(", ")) if out.startswith("applied ") else 0
            for out in outputs
        ]
        assert all(o.startswith("applied ") or o == "the schema is up to date\n" for o in outputs)
        assert sum(applied_by) == len(available_migrations())
        with psycopg.connect(url) as conn:
            versions = [
                r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            ]
        assert versions == [v for v, _, _ in available_migrations()]
    finally:
        drop_database(pg_admin_url, name)


def test_migrate_again_is_a_no_op(fresh_db: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stockline", "migrate"],
        env={"DATABASE_URL": fresh_db, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout == "the schema is up to date\n"


def test_the_write_path_functions_keep_generic_plans(fresh_db: str) -> None:
    # migration 0023; a later CREATE OR REPLACE of one of them would silently drop it
    with psycopg.connect(fresh_db) as conn:
        rows = dict(
            conn.execute(
                "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)",
                (
                    [
                        "stockline_transactions_purchase_v1",
                        "stockline_inventory_ledger_apply",
                        "stockline_inventory_events_position_v1",
                    ],
                ),
            ).fetchall()
        )
    assert len(rows) == 3
    for name, config in rows.items():
        assert "plan_cache_mode=force_generic_plan" in (config or []), name
