"""The `stockline` command line.

One-shot commands print their result and stay quiet otherwise (`-v` shows their log
lines); `serve` and `demo` log as servers do. Every mistake an operator can make in
options, settings or the database URL ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import getpass
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import psycopg
from psycopg.rows import dict_row

from stockline import __version__
from stockline.config import Settings
from stockline.launch import (
    UsageError,
    check_port_free,
    describe_connect_error,
    load_settings,
    open_database,
)
from stockline.logs import configure_logging

log = logging.getLogger("stockline.cli")

# commands that run a server: their log lines are their output
_SERVERS = {"serve", "demo"}


def _run_async(settings: Settings, fn: Callable[[psycopg.AsyncConnection[Any]], Any]) -> Any:
    async def main() -> Any:
        async with await psycopg.AsyncConnection.connect(
            settings.dsn(), row_factory=dict_row
        ) as conn:
            return await fn(conn)

    return asyncio.run(main())


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from stockline.db.migrate import migrate_for

    with open_database(settings, migrate=False) as db:
        applied, role = migrate_for(db)
    print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")
    if role is not None:
        print(f"granted the service role {role}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError(
            "admin create: no terminal to ask for the password; pipe it in with --password-stdin"
        )
    try:
        return getpass.getpass("Password: ")
    except EOFError:
        raise UsageError("admin create: no password given") from None


def cmd_admin_create(args: argparse.Namespace, settings: Settings) -> int:
    from stockline import auth
    from stockline.errors import InvalidInput
    from stockline.system_config import normalise_recipients

    try:
        email = normalise_recipients([args.email])[0]
    except InvalidInput as exc:
        raise UsageError(f"admin create: {exc.detail}") from None
    password = _read_password(args)
    if len(password) < 8:
        raise UsageError("admin create: the password must be at least 8 characters")
    with open_database(settings) as db:
        admin_id = _run_async(db, lambda c: auth.create_admin(c, email, password))
    print(f"admin {email} ready (id {admin_id})")
    return 0


def cmd_kiosk_create(args: argparse.Namespace, settings: Settings) -> int:
    from stockline import auth

    name = args.name.strip()
    if not name or len(name) > 200:
        raise UsageError("kiosk create: the name must be 1 to 200 characters")
    with open_database(settings) as db:
        kiosk_id, token = _run_async(db, lambda c: auth.create_kiosk(c, name))
    print(
        f"kiosk {name!r} created (id {kiosk_id}). Its token, shown only this once:", file=sys.stderr
    )
    print(token)
    return 0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last one is left ragged."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def cmd_kiosk_list(args: argparse.Namespace, settings: Settings) -> int:
    from stockline import auth

    # read-only: listing must not change the schema of a database it looks at
    with open_database(settings, migrate=False) as db:
        kiosks = _run_async(db, auth.list_kiosks)
    if not kiosks:
        print("no kiosks yet (stockline kiosk create NAME)")
        return 0
    rows = [
        (
            k["id"],
            "revoked" if k["disabled"] else "active",
            f"{k['created_at']:%Y-%m-%d %H:%M}",
            k["name"],
        )
        for k in kiosks
    ]
    print(table(("ID", "STATE", "CREATED", "NAME"), rows))
    return 0


def cmd_kiosk_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from stockline import auth

    with open_database(settings) as db:
        name = _run_async(db, lambda c: auth.revoke_kiosk(c, args.id))
    if name is None:
        raise UsageError(f"kiosk revoke: no kiosk with id {args.id}")
    print(f"kiosk {name!r} (id {args.id}) revoked: its token no longer works")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
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

    with open_database(settings, migrate=False) as db, psycopg.connect(db.dsn()) as conn:
        result = verify(conn, progress=progress)
    products = f"{result.checked} product{'' if result.checked == 1 else 's'}"
    if result.mismatches:
        print(f"verify: {len(result.mismatches)} of {products} out of balance:")
        for m in result.mismatches:
            print("  " + m.describe())
        return 1
    print(
        f"verify: ok, {products} checked: stock_quantity, snapshot and SUM(ledger.delta) "
        "agree and the low/negative flags follow the stock"
    )
    return 0


def _run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # the workers' metric files; removed at exit (a restart must not add old counts)
        metrics_dir = tempfile.mkdtemp(prefix="stockline-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    log.info("serving", extra={"action": "serve", "host": host, "port": port, "workers": workers})
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into a normal exit so
    # the embedded database is stopped by open_database's finally block
    signal.signal(signal.SIGTERM, _exit_quietly)
    # the workers read it when they build their protocol (api/http_protocol.py)
    os.environ["STOCKLINE_HEADER_TIMEOUT_SECONDS"] = str(settings.header_timeout_seconds)
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_config": None,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "timeout_graceful_shutdown": 3,
        "access_log": False,
        "limit_concurrency": settings.limit_concurrency,
        "http": "stockline.api.http_protocol:HeaderDeadlineProtocol",
    }
    if workers == 1:
        uvicorn.run("stockline.app:served_app", **options)
        return
    # several workers: uvicorn's supervisor would exit 0 after a worker failed to start
    # (or restart it for ever); ours ends serve non-zero with one line (SPEC 7.1)
    from stockline.supervisor import Supervisor

    config = uvicorn.Config("stockline.app:served_app", **options)
    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    if supervisor.failure is not None:
        print(supervisor.failure, file=sys.stderr, flush=True)
        raise SystemExit(1)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    check_port_free(args.host, args.port)
    with open_database(settings, exclusive="serve") as db:
        if not settings.public_url:  # said once the server will start, not before a refusal
            log.warning(
                "STOCKLINE_PUBLIC_URL is not set: low-stock mail carries no link to the portal",
                extra={"action": "public_url_unset"},
            )
        _run_server(db, args.host, args.port, args.workers)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from stockline import demo

    check_port_free(args.host, args.port)
    if not settings.public_url:
        # the demo knows where it serves: its mail links there (the app reads the env)
        os.environ["STOCKLINE_PUBLIC_URL"] = _base_url(args)
    with open_database(settings, exclusive="demo") as db:
        creds = _run_async(
            db, lambda c: demo.prepare(c, settings.data_dir, settings.admin_notification_emails)
        )
        _announce_demo(args, db, creds)
        demo.start_simulated_shop(
            _base_url(args),
            creds.kiosk_token,
            args.simulate,
            creds.restocker_email,
            creds.restocker_password,
        )
        _run_server(db, args.host, args.port, args.workers)
    return 0


def _base_url(args: argparse.Namespace) -> str:
    wildcard = args.host in ("0.0.0.0", "::")  # noqa: S104 - only to print a usable URL
    return f"http://{'127.0.0.1' if wildcard else args.host}:{args.port}"


def _announce_demo(args: argparse.Namespace, settings: Settings, creds: Any) -> None:
    base = _base_url(args)
    print(
        "\n  stockline demo shop is starting\n"
        f"  admin portal : {base}/admin\n"
        f"    email      : {creds.admin_email}\n"
        f"    password   : {creds.admin_password}\n"
        f"  kiosk        : {base}/kiosk\n"
        f"    kiosk token: {creds.kiosk_token}\n"
        f"  API (OpenAPI): {base}/openapi.json\n"
        f"  credentials  : kept in {settings.data_dir / 'demo-credentials.json'}\n"
        + (
            f"  mail         : low-stock mail goes to {settings.smtp_host} (SMTP)\n"
            if settings.smtp_host
            else "  mail         : no SMTP_HOST: low-stock mail is captured in the admin portal\n"
        )
        + (
            f"  simulation   : a kiosk buys about {args.simulate:g} times a second and "
            f"{creds.restocker_email} restocks what runs low (--simulate 0 turns it off)\n"
            if args.simulate > 0
            else ""
        ),
        flush=True,
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, like every other mistake; the usage is one --help away
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1 to 65535)")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} processes: give 1 to 64")
    return value


def _add_server_options(p: argparse.ArgumentParser, workers_help: str) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port, 1 to 65535 (default 8000)")
    p.add_argument("--workers", type=_workers, default=1, help=workers_help)


def build_parser() -> argparse.ArgumentParser:
    quiet = _Parser(add_help=False)
    quiet.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also print log lines (database start, migrations)",
    )
    parser = _Parser(
        prog="stockline",
        parents=[quiet],
        description="Inventory ledger, live stock events and low-stock alerting for a kiosk "
        "shop. Without DATABASE_URL an embedded PostgreSQL 18 is started in the user's data "
        "directory (STOCKLINE_DATA_DIR).",
    )
    parser.add_argument("--version", action="version", version=f"stockline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = sub.add_parser(name, parents=[quiet], **kwargs)
        return made

    serve = command(
        "serve",
        help="run the HTTP service (migrates first)",
        description="Run the API, pages, event stream and mail worker.",
    )
    _add_server_options(serve, "worker processes sharing the port, 1 to 64 (default 1)")
    serve.set_defaults(func=cmd_serve)

    mig = command(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending migrations (safe to run concurrently).",
    )
    mig.set_defaults(func=cmd_migrate)

    admin = command("admin", help="manage admins", description="Manage admin accounts.")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = admin_sub.add_parser(
        "create",
        parents=[quiet],
        help="create an admin (or reset its password)",
        description="Create an admin, or reset its password (ending its sessions). Without "
        "--password-stdin the password is asked for on the terminal.",
    )
    create.add_argument("email")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.set_defaults(func=cmd_admin_create)

    kiosk = command("kiosk", help="manage kiosks", description="Manage kiosks.")
    kiosk_sub = kiosk.add_subparsers(dest="kiosk_command", required=True, metavar="ACTION")
    kcreate = kiosk_sub.add_parser(
        "create",
        parents=[quiet],
        help="create a kiosk and print its token once",
        description="Create a kiosk; its token is printed once.",
    )
    kcreate.add_argument("name")
    kcreate.set_defaults(func=cmd_kiosk_create)
    klist = kiosk_sub.add_parser(
        "list",
        parents=[quiet],
        help="list kiosks (id, state, created, name)",
        description="List kiosks as a table. Changes nothing (no migration either).",
    )
    klist.set_defaults(func=cmd_kiosk_list)
    krevoke = kiosk_sub.add_parser(
        "revoke",
        parents=[quiet],
        help="revoke a kiosk's token (rotate: create a new kiosk, then revoke the old one)",
        description="Disable a kiosk by id; its token stops working on the next request.",
    )
    krevoke.add_argument("id", type=int)
    krevoke.set_defaults(func=cmd_kiosk_revoke)

    ver = command(
        "verify",
        help="check that stock, snapshot and ledger agree for every product",
        description="Check every product: products.stock_quantity, "
        "inventory_snapshot.current_stock and SUM(inventory_ledger.delta) must be equal, and "
        "the low-stock and negative flags must follow the stock. Exit 0 when all agree, 1 "
        "listing each product that does not. Changes nothing.",
    )
    ver.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a terminal"
    )
    ver.set_defaults(func=cmd_verify)

    demo = command(
        "demo",
        help="run a ready demo shop",
        description="Migrate, create sample products, a demo admin and a kiosk, print the "
        "URLs and credentials, and serve. The credentials are kept in the data directory "
        "and stay the same across restarts.",
    )
    _add_server_options(demo, "worker processes, 1 to 64 (default 1)")
    demo.add_argument(
        "--simulate",
        type=float,
        default=0.2,
        metavar="PER_SECOND",
        help="simulated kiosk purchases per second (0 switches it off; default 0.2)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    if args.command in _SERVERS or getattr(args, "verbose", False):
        return settings.log_level
    return "WARNING"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    try:
        settings = load_settings()
        configure_logging(_log_level(args, settings), settings.log_format)
        result: int = args.func(args, settings)
    except UsageError as exc:
        print(f"stockline: {exc}", file=sys.stderr)
        return 2
    except psycopg.errors.UndefinedTable:
        print(
            "stockline: the database has no stockline schema yet; run `stockline migrate`",
            file=sys.stderr,
        )
        return 2
    except psycopg.OperationalError as exc:
        # the database went away after the first connection worked
        print(f"stockline: {describe_connect_error(exc, url)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
