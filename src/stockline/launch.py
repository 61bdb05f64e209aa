"""What every command needs before its real work: settings, a database, a port, a data
directory of its own. Each failure is a `UsageError` whose text is the one line the CLI
prints (exit 2): it names the setting or option and the reason, never a secret."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
from pydantic import SecretStr, ValidationError

from stockline.config import SECRET_SETTINGS, Settings

log = logging.getLogger("stockline.cli")

LOCK_NAME = "stockline.lock"


class UsageError(Exception):
    """A mistake in the command line, the environment or the machine's state."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise UsageError(describe_settings_error(exc)) from None


def describe_settings_error(exc: ValidationError) -> str:
    # pydantic's own text is several lines with a documentation URL; an operator needs
    # the variable and the reason (and the value, unless the variable holds a secret)
    parts = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        reason = str(error["msg"]).removeprefix("Value error, ")
        reason = reason.removeprefix(f"{name} ")
        shown = "" if name in SECRET_SETTINGS else f" (got {error.get('input')!r})"
        parts.append(f"{name}: {reason}{shown}")
    return "invalid setting " + "; ".join(parts)


def _redact(text: str, url: str) -> str:
    # a conninfo error may quote the part it could not parse, password included
    secret = SecretStr(url).get_secret_value()
    match = re.search(r"://([^@/]*)@", secret)
    if match and match.group(1):
        text = text.replace(match.group(1), "***")
    password = re.search(r"password\s*=\s*(\S+)", secret)
    if password:
        text = text.replace(password.group(1), "***")
    # libpq quotes the fragment it choked on, which may be anything, a password too
    return re.sub(r'"([^"\s]{2,})"', lambda m: '"…"' if m.group(1) in secret else m.group(0), text)


def check_database_url(url: str) -> dict[str, str]:
    """The URL's parts, or a UsageError saying why DATABASE_URL cannot be one."""
    if "://" in url and not url.startswith(("postgresql://", "postgres://")):
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"DATABASE_URL is malformed: scheme {scheme!r} is not postgresql:// or postgres://"
        )
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = _redact(str(exc).strip().splitlines()[0], url)
        raise UsageError(f"DATABASE_URL is malformed: {reason}") from None
    for port in str(info.get("port", "5432")).split(","):
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise UsageError(f"DATABASE_URL is malformed: port {port!r} is not 1 to 65535")
    return {k: str(v) for k, v in info.items() if k != "password"}


def describe_connect_error(exc: psycopg.OperationalError, url: str) -> str:
    """One line for a failed connection: which server and why (libpq's text, shortened)."""
    info = {}
    with contextlib.suppress(UsageError):
        info = check_database_url(url)
    where = f"{info.get('host', 'local socket')}:{info.get('port', '5432')}"
    text = _redact(str(exc), url)
    dbname = info.get("dbname") or info.get("user") or ""
    if exc.sqlstate == "3D000" or ("does not exist" in text and "database" in text):
        return f"DATABASE_URL: database {dbname!r} does not exist on {where}"
    user = info.get("user", "")
    if exc.sqlstate in ("28P01", "28000") or "authentication failed" in text:
        return f"DATABASE_URL: authentication failed for user {user!r} on {where}"
    if "role" in text and "does not exist" in text:
        return f"DATABASE_URL: authentication failed: role {user!r} does not exist on {where}"
    if "no password supplied" in text:
        return f"DATABASE_URL: the server at {where} wants a password and the URL has none"
    if "Connection refused" in text:
        return f"DATABASE_URL: connection refused by {where} (is PostgreSQL running there?)"
    if "timeout expired" in text:
        return f"DATABASE_URL: no answer from {where} (timed out)"
    if "could not translate host name" in text:
        return f"DATABASE_URL: unknown host {info.get('host', '')!r}"
    # anything else: libpq's first line of reason, without the "connection failed:" frame
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    reason = re.sub(r"^connection (failed|to server).*?failed: ", "", reason)
    return f"DATABASE_URL: cannot connect to {where}: {reason}"


def probe_database(settings: Settings) -> None:
    url = settings.dsn()
    try:
        psycopg.connect(url, connect_timeout=max(1, int(settings.db_connect_timeout))).close()
    except psycopg.OperationalError as exc:
        raise UsageError(describe_connect_error(exc, url)) from None


def check_port_free(host: str, port: int) -> None:
    """Refuse before printing anything when the server could not listen there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # as uvicorn does: a port whose old connections linger in TIME_WAIT is usable
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"--port {port}: {host}:{port} is already in use by another program"
                ) from None
            raise UsageError(
                f"--host {host} --port {port}: cannot listen ({exc.strerror})"
            ) from None


@contextlib.contextmanager
def hold_data_dir(data_dir: Path, what: str) -> Iterator[None]:
    """One `serve` or `demo` per embedded data directory (an flock the kernel drops with
    the process, so a crash never leaves a stale lock). Other commands only attach."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text(errors="replace").strip() or "another process"
            raise UsageError(
                f"STOCKLINE_DATA_DIR {data_dir} is in use by {holder}; stop it first, "
                "or give this one another STOCKLINE_DATA_DIR (or a DATABASE_URL)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"stockline {what} (pid {os.getpid()})\n".encode())
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_database(
    settings: Settings, *, migrate: bool = True, exclusive: str | None = None
) -> Iterator[Settings]:
    """DATABASE_URL checked and reachable, or the embedded PostgreSQL 18 started for the
    life of the command; migrated when asked. `exclusive` names a serve/demo that must
    be alone on an embedded data directory."""
    if settings.database_url is not None:
        info = check_database_url(settings.dsn())
        probe_database(settings)
        log.info(
            "using database",
            extra={
                "action": "database",
                "mode": "external",
                "host": info.get("host", "local socket"),
                "port": info.get("port", "5432"),
                "dbname": info.get("dbname", ""),
            },
        )
        _maybe_migrate(settings, migrate)
        yield settings
        return
    with contextlib.ExitStack() as stack:
        if exclusive:
            stack.enter_context(hold_data_dir(settings.data_dir, exclusive))
        yield stack.enter_context(_embedded(settings, migrate))


@contextlib.contextmanager
def _embedded(settings: Settings, migrate: bool) -> Iterator[Settings]:
    from stockline.db.embedded import start_embedded

    log.info(
        "starting embedded PostgreSQL",
        extra={"action": "database", "mode": "embedded", "data_dir": str(settings.data_dir)},
    )
    db = start_embedded(settings.data_dir)
    # worker processes inherit the environment: they attach to this server
    os.environ["DATABASE_URL"] = db.url
    log.info(
        "embedded PostgreSQL ready",
        extra={"action": "database", "mode": "embedded", "pgdata": str(db.pgdata), "url": db.url},
    )
    try:
        attached = settings.model_copy(update={"database_url": SecretStr(db.url)})
        _maybe_migrate(attached, migrate)
        yield attached
    finally:
        # stops the server unless another stockline process is still attached to it
        db.server.cleanup()
        log.info("embedded PostgreSQL released", extra={"action": "database", "mode": "embedded"})


def _maybe_migrate(settings: Settings, migrate: bool) -> None:
    if not migrate:
        return
    from stockline.db.migrate import migrate_for

    applied, role = migrate_for(settings)
    log.info("migrations done", extra={"action": "migrate", "applied": ",".join(applied) or "none"})
    if role is not None:
        log.info("service role granted", extra={"action": "migrate_grant", "role": role})
