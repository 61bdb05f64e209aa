"""The `stockline` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import SecretStr

from stockline.config import Settings
from stockline.logs import configure_logging

log = logging.getLogger("stockline.cli")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic names the bad variable
        print(f"stockline: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


@contextlib.contextmanager
def open_database(settings: Settings) -> Iterator[Settings]:
    """Use DATABASE_URL, or start the embedded PostgreSQL 18 for the life of the command."""
    if settings.database_url is not None:
        info = psycopg.conninfo.conninfo_to_dict(settings.dsn())
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
        yield settings
        return
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
        yield settings.model_copy(update={"database_url": SecretStr(db.url)})
    finally:
        # stops the server unless another stockline process is still attached to it
        db.server.cleanup()
        log.info("embedded PostgreSQL released", extra={"action": "database", "mode": "embedded"})


def _migrate(settings: Settings) -> None:
    from stockline.db.migrate import migrate

    applied = migrate(settings.dsn())
    log.info("migrations done", extra={"action": "migrate", "applied": ",".join(applied) or "none"})


def cmd_migrate(args: argparse.Namespace) -> int:
    with open_database(_settings()) as settings:
        _migrate(settings)
    return 0


def _run_async(settings: Settings, fn: Callable[[psycopg.AsyncConnection[Any]], Any]) -> Any:
    async def main() -> Any:
        async with await psycopg.AsyncConnection.connect(
            settings.dsn(), row_factory=dict_row
        ) as conn:
            return await fn(conn)

    return asyncio.run(main())


def cmd_admin_create(args: argparse.Namespace) -> int:
    from stockline import auth

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if len(password) < 8:
        print("stockline: the password must be at least 8 characters", file=sys.stderr)
        return 2
    from stockline.errors import InvalidInput
    from stockline.system_config import normalise_recipients

    try:
        email = normalise_recipients([args.email])[0]
    except InvalidInput as exc:
        print(f"stockline: {exc.detail}", file=sys.stderr)
        return 2
    with open_database(_settings()) as settings:
        _migrate(settings)
        admin_id = _run_async(settings, lambda c: auth.create_admin(c, email, password))
    print(f"admin {email} ready (id {admin_id})")
    return 0


def cmd_kiosk_create(args: argparse.Namespace) -> int:
    from stockline import auth

    name = args.name.strip()
    if not name or len(name) > 200:
        print("stockline: the kiosk name must be 1 to 200 characters", file=sys.stderr)
        return 2
    with open_database(_settings()) as settings:
        _migrate(settings)
        kiosk_id, token = _run_async(settings, lambda c: auth.create_kiosk(c, name))
    print(
        f"kiosk {name!r} created (id {kiosk_id}). Its token, shown only this once:", file=sys.stderr
    )
    print(token)
    return 0


def cmd_kiosk_list(args: argparse.Namespace) -> int:
    from stockline import auth

    with open_database(_settings()) as settings:
        _migrate(settings)
        kiosks = _run_async(settings, auth.list_kiosks)
    for k in kiosks:
        state = "revoked" if k["disabled"] else "active"
        print(f"{k['id']}\t{state}\t{k['created_at']:%Y-%m-%d %H:%M}\t{k['name']}")
    return 0


def cmd_kiosk_revoke(args: argparse.Namespace) -> int:
    from stockline import auth

    with open_database(_settings()) as settings:
        _migrate(settings)
        name = _run_async(settings, lambda c: auth.revoke_kiosk(c, args.id))
    if name is None:
        print(f"stockline: no kiosk with id {args.id}", file=sys.stderr)
        return 2
    print(f"kiosk {name!r} (id {args.id}) revoked: its token no longer works")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from stockline.inventory.verify import verify

    show = sys.stderr.isatty() or args.progress

    def progress(done: int, total: int) -> None:
        if show:
            end = "\n" if done >= total else "\r"
            print(
                f"verifying products: {done}/{total} ({100 * done // max(total, 1)}%)",
                end=end,
                file=sys.stderr,
                flush=True,
            )

    with open_database(_settings()) as settings, psycopg.connect(settings.dsn()) as conn:
        mismatches = verify(conn, progress=progress)
    if mismatches:
        print(f"verify: {len(mismatches)} product(s) out of balance:")
        for m in mismatches:
            print("  " + m.describe())
        return 1
    print(
        "verify: ok — snapshot, products.stock_quantity and SUM(ledger.delta) agree "
        "for every product"
    )
    return 0


def _run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stockline-metrics-")
    log.info("serving", extra={"action": "serve", "host": host, "port": port, "workers": workers})
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into a normal exit so
    # the embedded database is stopped by open_database's finally block
    signal.signal(signal.SIGTERM, _exit_quietly)
    uvicorn.run(
        "stockline.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=3,
        access_log=False,
    )


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    with open_database(_settings()) as settings:
        _migrate(settings)
        _run_server(settings, args.host, args.port, args.workers)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stockline import demo

    with open_database(_settings()) as settings:
        _migrate(settings)
        password = secrets.token_urlsafe(9)
        details = _run_async(
            settings, lambda c: demo.prepare(c, password, settings.admin_notification_emails)
        )
        _announce_demo(args, settings, details, password)
        if args.simulate > 0:
            # the simulated kiosk buys; the demo admin restocks what runs low
            demo.start_simulated_kiosk(
                _base_url(args), details["kiosk_token"], args.simulate, admin_password=password
            )
        _run_server(settings, args.host, args.port, args.workers)
    return 0


def _base_url(args: argparse.Namespace) -> str:
    wildcard = args.host in ("0.0.0.0", "::")  # noqa: S104 - only to print a usable URL
    return f"http://{'127.0.0.1' if wildcard else args.host}:{args.port}"


def _announce_demo(
    args: argparse.Namespace, settings: Settings, details: dict[str, Any], password: str
) -> None:
    base = _base_url(args)
    print(
        "\n  stockline demo shop is starting\n"
        f"  admin portal : {base}/admin\n"
        f"    email      : {details['email']}\n"
        f"    password   : {password}\n"
        f"  kiosk        : {base}/kiosk\n"
        f"    kiosk token: {details['kiosk_token']}\n"
        f"  API (OpenAPI): {base}/openapi.json\n"
        + (
            f"  mail         : low-stock mail goes to {settings.smtp_host} (SMTP)\n"
            if settings.smtp_host
            else "  mail         : no SMTP_HOST: low-stock mail is captured in the admin portal\n"
        )
        + (
            f"  simulation   : a kiosk buys about {args.simulate:g} times a second and the demo "
            "admin restocks what runs low (--simulate 0 turns it off)\n"
            if args.simulate > 0
            else ""
        ),
        flush=True,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockline",
        description="Inventory ledger, live stock events and low-stock alerting for a kiosk "
        "shop. Without DATABASE_URL an embedded PostgreSQL 18 is started in the user's data "
        "directory (STOCKLINE_DATA_DIR).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service (migrates first)",
        description="Run the API, pages, event stream and mail worker.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending migrations (safe to run concurrently).",
    )
    mig.set_defaults(func=cmd_migrate)

    admin = sub.add_parser("admin", help="manage admins", description="Manage admin accounts.")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = admin_sub.add_parser(
        "create",
        help="create an admin (or reset its password)",
        description="Create an admin, or reset its password.",
    )
    create.add_argument("email")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.set_defaults(func=cmd_admin_create)

    kiosk = sub.add_parser("kiosk", help="manage kiosks", description="Manage kiosks.")
    kiosk_sub = kiosk.add_subparsers(dest="kiosk_command", required=True, metavar="ACTION")
    kcreate = kiosk_sub.add_parser(
        "create",
        help="create a kiosk and print its token once",
        description="Create a kiosk; its token is printed once.",
    )
    kcreate.add_argument("name")
    kcreate.set_defaults(func=cmd_kiosk_create)
    klist = kiosk_sub.add_parser(
        "list", help="list kiosks (id, state, created, name)", description="List kiosks."
    )
    klist.set_defaults(func=cmd_kiosk_list)
    krevoke = kiosk_sub.add_parser(
        "revoke",
        help="revoke a kiosk's token (rotate: create a new kiosk, then revoke the old one)",
        description="Disable a kiosk by id; its token stops working on the next request.",
    )
    krevoke.add_argument("id", type=int)
    krevoke.set_defaults(func=cmd_kiosk_revoke)

    ver = sub.add_parser(
        "verify",
        help="check snapshot = stock = SUM(ledger) for every product",
        description="Check S-1 for every product; exit 1 listing mismatches.",
    )
    ver.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a terminal"
    )
    ver.set_defaults(func=cmd_verify)

    demo = sub.add_parser(
        "demo",
        help="run a ready demo shop",
        description="Migrate, create sample products, a demo admin and a "
        "kiosk, print the URLs and credentials, and serve.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    demo.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    demo.add_argument(
        "--simulate",
        type=float,
        default=0.2,
        metavar="PER_SECOND",
        help="simulated kiosk purchases per second (0 switches it off; default 0.2)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("STOCKLINE_LOG_LEVEL", "INFO"))
    try:
        result: int = args.func(args)
    except psycopg.OperationalError as exc:
        print(f"stockline: cannot reach the database: {type(exc).__name__}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
