"""Soak: minutes of mixed load against `stockline serve --workers 2`, then the promises.

Load (issue 7, item 5):
- purchases from K kiosks (default 20; one kiosk token each, LeanHttp, Poisson arrivals at
  `--rate` purchases/s per kiosk), a share of them on a few "alert" products with thresholds;
- an admin that restocks every alert product found at or under its threshold (re-arming its
  breach) and now and then adjusts an ordinary product;
- N SSE subscribers (default 1,000; raw asyncio sockets, kiosk bearer token) that all start
  from the same Last-Event-ID, disconnect at random (exponential lifetimes, `--life` mean)
  and reconnect with the Last-Event-ID they last saw;
- a real SMTP server (tests/fixtures/smtp.py, aiosmtpd on loopback) answering 451 to
  `--smtp-fail` (20 %) of deliveries, with STOCKLINE_RETRY_SCHEDULE shrunk so retries finish.

After the load, a drain (no more random disconnects; wait for the mail queue to empty and
for every subscriber to reach the newest event id), then the checks:
- `stockline verify` exits 0;
- every threshold-breach event has one email_notification_log row; every row is `sent`, and
  the SMTP server accepted exactly one message per Message-ID (none unknown);
- every subscriber's ids, across its reconnects, are exactly the inventory_events ids from
  its start to the newest one: no gap, no duplicate, no reset;
- RSS of each server process at the start (after warm-up) and at the end: end within
  `--rss-tolerance` (20 %) of start.

    PYTHONPATH=src python -m bench.soak --minutes 10            # the issue's run
    PYTHONPATH=src python -m bench.soak --minutes 2 --subscribers 300

Exit status 1 when a check fails. The load generator shares the machine with the server:
its own CPU share is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg
from tests.fixtures.smtp import SmtpServer

from bench._common import (
    LeanHttp,
    Served,
    database,
    machine,
    make_admin,
    make_kiosk,
    percentile,
    serve,
)

STAFF = "staff@shop.example.com"
FRAME_ID = re.compile(rb"(?m)^id: (\d+)\nevent: ([a-z-]+)")
MiB = 2**20
# what LeanHttp raises when the server has closed a keep-alive connection
CONNECTION_ERRORS = (OSError, IndexError, ValueError, asyncio.IncompleteReadError)


# ------------------------------------------------------------------ SSE subscribers
@dataclass
class Sub:
    index: int
    start: int  # the Last-Event-ID of the first connection
    last: int  # the last id received (what a reconnect sends)
    received: int = 0
    connects: int = 0
    random_drops: int = 0  # our own random disconnects
    server_closes: int = 0  # the server ended the stream
    refused: int = 0  # connect errors / non-200 answers
    resets: int = 0
    duplicates: int = 0
    jumps: list[tuple[int, int]] = field(default_factory=list)  # (last, next) with next > last+1


async def _connection(sub: Sub, port: int, token: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                "GET /api/inventory/events HTTP/1.1\r\nHost: soak\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
                f"Last-Event-ID: {sub.last}\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            sub.refused += 1
            return
        while await reader.readline() not in (b"\r\n", b""):
            pass
        sub.connects += 1
        buf = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                sub.server_closes += 1
                return
            buf += chunk
            cut = buf.rfind(b"\n\n")
            if cut < 0:
                continue
            block, buf = buf[:cut], buf[cut + 2 :]
            for raw_id, event in FRAME_ID.findall(block):
                event_id = int(raw_id)
                if event == b"reset":
                    sub.resets += 1
                    sub.last = event_id
                    continue
                if event_id <= sub.last:
                    sub.duplicates += 1
                    continue
                if event_id != sub.last + 1:
                    sub.jumps.append((sub.last, event_id))
                sub.last = event_id
                sub.received += 1
    finally:
        writer.close()


async def subscriber(
    sub: Sub, port: int, token: str, life: float, calm: asyncio.Event, rng: random.Random
) -> None:
    while True:
        timeout = None if calm.is_set() else rng.expovariate(1 / life)
        try:
            await asyncio.wait_for(_connection(sub, port, token), timeout)
        except TimeoutError:
            sub.random_drops += 1
        except (OSError, ValueError, asyncio.IncompleteReadError):
            sub.refused += 1
        await asyncio.sleep(rng.uniform(0.05, 1.0))


# ------------------------------------------------------------------ kiosks and admin
@dataclass
class Load:
    purchases: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    adjustments: Counter[int] = field(default_factory=Counter)
    restocks: int = 0
    resends: int = 0  # requests resent on a fresh connection


async def kiosk(
    port: int,
    token: str,
    rate: float,
    alert: list[int],
    plain: list[int],
    alert_share: float,
    load: Load,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    http = LeanHttp(port)
    try:
        while not stop.is_set():
            await asyncio.sleep(rng.expovariate(rate))
            product = rng.choice(alert) if rng.random() < alert_share else rng.choice(plain)
            body = {"items": [{"product_id": product, "quantity": 1}]}
            # the server closes idle keep-alive connections (uvicorn: after 5 s): resend on a
            # new connection with the same Idempotency-Key, so nothing is bought twice
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
            t0 = time.perf_counter()
            status = 0
            for _ in range(3):
                try:
                    status, _ = await http.request("POST", "/api/purchases", headers, body)
                    break
                except CONNECTION_ERRORS:
                    await http.close()
                    http = LeanHttp(port)
                    load.resends += 1
            load.latencies.append(time.perf_counter() - t0)
            load.purchases[status] += 1
    finally:
        await http.close()


async def admin(
    port: int,
    token: str,
    every: float,
    alert: dict[int, int],
    restock_to: int,
    plain: list[int],
    load: Load,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    http = LeanHttp(port)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        while not stop.is_set():
            await asyncio.sleep(every)
            try:
                await _admin_round(http, headers, alert, restock_to, plain, load, rng)
            except CONNECTION_ERRORS:  # an idle keep-alive connection closed: next round
                await http.close()
                http = LeanHttp(port)
                load.resends += 1
    finally:
        await http.close()


async def _admin_round(
    http: LeanHttp,
    headers: dict[str, str],
    alert: dict[int, int],
    restock_to: int,
    plain: list[int],
    load: Load,
    rng: random.Random,
) -> None:
    for product, threshold in alert.items():
        status, data = await http.request("GET", f"/api/inventory/{product}", headers)
        if status != 200:
            load.adjustments[status] += 1
            continue
        stock = int(json.loads(data)["current_stock"])
        if stock <= threshold:
            body = {"delta": restock_to - stock, "reason": "soak restock"}
            path = f"/api/inventory/{product}/adjustments"
            status, _ = await http.request("POST", path, headers, body)
            load.adjustments[status] += 1
            load.restocks += 1
    if rng.random() < 0.3:  # now and then, an ordinary correction
        body = {"delta": rng.choice([-2, -1, 1, 2]), "reason": "soak correction"}
        path = f"/api/inventory/{rng.choice(plain)}/adjustments"
        status, _ = await http.request("POST", path, headers, body)
        load.adjustments[status] += 1


# ------------------------------------------------------------------ measurements
def _processes(served: Served) -> dict[int, psutil.Process]:
    return {pid: psutil.Process(pid) for pid in served.pids()}


def _role(proc: psutil.Process, parent: int) -> str:
    if proc.pid == parent:
        return "supervisor"
    with contextlib.suppress(psutil.Error):
        cmd = " ".join(proc.cmdline())
        if "spawn_main" in cmd:
            return "worker"
        if "resource_tracker" in cmd:
            return "res.tracker"
        return proc.name()[:12]
    return "?"


def _rss(procs: dict[int, psutil.Process]) -> dict[int, int | None]:
    out: dict[int, int | None] = {}
    for pid, proc in procs.items():
        try:
            out[pid] = int(proc.memory_info().rss)
        except psutil.Error:
            out[pid] = None
    return out


def _cpu(procs: dict[int, psutil.Process]) -> float:
    total = 0.0
    for proc in procs.values():
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _postgres(db_url: str) -> dict[int, psutil.Process]:
    """The postmaster serving db_url (found by its data directory) and its children,
    when it runs on this machine; empty otherwise."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    data_dir = str(row[0]) if row else ""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if data_dir and data_dir in cmdline and proc.info["name"] in ("postgres", "postmaster"):
            found = {proc.pid: proc}
            with contextlib.suppress(psutil.Error):
                found.update({c.pid: c for c in proc.children(recursive=True)})
            return found
    return {}


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, 4096)), hard))


# ------------------------------------------------------------------ the run
async def _http_json(port: int, method: str, path: str, token: str, body: Any = None) -> Any:
    http = LeanHttp(port)
    try:
        status, data = await http.request(method, path, {"Authorization": f"Bearer {token}"}, body)
    finally:
        await http.close()
    if status >= 300:
        raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
    return json.loads(data)


async def _login(port: int, email: str, password: str) -> str:
    http = LeanHttp(port)
    try:
        status, data = await http.request(
            "POST", "/api/auth/login", {}, {"email": email, "password": password}
        )
    finally:
        await http.close()
    if status != 200:
        raise RuntimeError(f"login -> {status}: {data[:300]!r}")
    return str(json.loads(data)["access_token"])


def _pending(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM email_notification_log"
            " WHERE status IN ('pending', 'sending', 'retrying')"
        ).fetchone()
    return int(row[0]) if row else 0


def _head(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM inventory_events").fetchone()
    return int(row[0]) if row else 0


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    _raise_fd_limit(args.subscribers * 2 + 500)
    smtp = SmtpServer()
    flaky = random.Random(args.seed + 1)

    def next_reply() -> str:
        return "451" if flaky.random() < args.smtp_fail else "accept"

    smtp.handler._next = next_reply  # type: ignore[method-assign]
    smtp.start()
    env = {
        **smtp.env(),
        "ADMIN_NOTIFICATION_EMAILS": STAFF,
        "STOCKLINE_RETRY_SCHEDULE": args.retry_schedule,
        "STOCKLINE_WORKER_POLL_SECONDS": "1",
        "STOCKLINE_SMTP_TIMEOUT_SECONDS": "5",
    }
    checks: list[tuple[str, bool, str]] = []
    with database() as (_admin_url, db_url):
        served = serve(db_url, workers=args.workers, env=env)
        try:
            checks = await _soak(args, rng, smtp, served, db_url)
        finally:
            served.stop()
            smtp.stop()
    print("\nchecks")
    width = max(len(name) for name, _, _ in checks)
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    failed = [name for name, ok, _ in checks if not ok]
    print(f"\n{'FAIL: ' + ', '.join(failed) if failed else 'PASS: all checks'}")
    return 1 if failed else 0


async def _soak(
    args: argparse.Namespace, rng: random.Random, smtp: SmtpServer, served: Served, db_url: str
) -> list[tuple[str, bool, str]]:
    port = served.port
    email, password = make_admin(db_url)
    admin_token = await _login(port, email, password)
    kiosk_tokens = [make_kiosk(db_url) for _ in range(args.kiosks)]
    alert: dict[int, int] = {}
    for i in range(args.alert_products):
        p = await _http_json(
            port,
            "POST",
            "/api/products",
            admin_token,
            {
                "sku": f"SOAK-A{i}",
                "name": f"alert {i}",
                "price_cents": 250,
                "low_stock_threshold": args.threshold,
                "initial_stock": args.restock_to,
            },
        )
        alert[int(p["id"])] = args.threshold
    plain = []
    for i in range(args.plain_products):
        p = await _http_json(
            port,
            "POST",
            "/api/products",
            admin_token,
            {"sku": f"SOAK-P{i}", "name": f"plain {i}", "price_cents": 100, "initial_stock": 10**8},
        )
        plain.append(int(p["id"]))
    start_id = _head(db_url)
    procs = _processes(served)
    parent = served.process.pid

    print(f"stockline soak on {machine()}")
    print(
        f"  {args.minutes} min load, {args.kiosks} kiosks x {args.rate}/s, "
        f"{args.subscribers} SSE subscribers (mean life {args.life} s), "
        f"{len(alert)} alert products (threshold {args.threshold}, restock to "
        f"{args.restock_to}, {args.alert_share:.0%} of purchases), "
        f"admin every {args.admin_every} s, SMTP 451 on {args.smtp_fail:.0%}, "
        f"retry schedule {args.retry_schedule}, serve --workers {args.workers}",
        flush=True,
    )

    stop, calm = asyncio.Event(), asyncio.Event()
    load = Load()
    subs = [Sub(i, start_id, start_id) for i in range(args.subscribers)]
    sub_token = kiosk_tokens[0]
    sub_tasks = []
    for s in subs:  # ramp: about 250 connections a second
        sub_tasks.append(asyncio.create_task(subscriber(s, port, sub_token, args.life, calm, rng)))
        if s.index % 25 == 24:
            await asyncio.sleep(0.1)

    pg = _postgres(db_url)
    wall0, self0, server0, pg0 = time.monotonic(), _self_cpu(), _cpu(procs), _cpu(pg)
    load_tasks = [
        asyncio.create_task(
            kiosk(port, t, args.rate, list(alert), plain, args.alert_share, load, stop, rng)
        )
        for t in kiosk_tokens
    ]
    load_tasks.append(
        asyncio.create_task(
            admin(
                port,
                admin_token,
                args.admin_every,
                alert,
                args.restock_to,
                plain,
                load,
                stop,
                rng,
            )
        )
    )
    duration = args.minutes * 60
    warmup = min(60.0, duration * 0.2)
    await asyncio.sleep(warmup)
    rss_start = _rss(procs)
    rss_peak = dict(rss_start)
    print(f"  warm-up done after {warmup:.0f} s; RSS start sampled", flush=True)
    next_report = time.monotonic() + 30
    while time.monotonic() - wall0 < duration:
        await asyncio.sleep(min(5.0, duration - (time.monotonic() - wall0)))
        for pid, value in _rss(procs).items():
            if value is not None:
                rss_peak[pid] = max(rss_peak.get(pid) or 0, value)
        if time.monotonic() >= next_report:
            next_report += 30
            print(
                f"  t={time.monotonic() - wall0:4.0f}s purchases={sum(load.purchases.values())}"
                f" restocks={load.restocks} mails={len(smtp.received())}"
                f" head={_head(db_url)} sse-connects={sum(s.connects for s in subs)}",
                flush=True,
            )
    stop.set()
    crashed = [
        repr(r) for r in await asyncio.gather(*load_tasks, return_exceptions=True) if r is not None
    ]
    load_wall = time.monotonic() - wall0
    self_cpu, server_cpu = _self_cpu() - self0, _cpu(procs) - server0
    pg_cpu = _cpu(pg) - pg0  # backends that ended meanwhile are not counted

    # drain: no more random drops; wait for mail and for every subscriber to catch up
    calm.set()
    head = _head(db_url)
    drain0 = time.monotonic()
    while time.monotonic() - drain0 < args.drain:
        behind = sum(1 for s in subs if s.last < head)
        if behind == 0 and _pending(db_url) == 0:
            break
        await asyncio.sleep(1)
    drain_took = time.monotonic() - drain0
    rss_end = _rss(procs)
    for t in sub_tasks:
        t.cancel()
    await asyncio.gather(*sub_tasks, return_exceptions=True)

    # ---------------------------------------------------------------- checks
    checks: list[tuple[str, bool, str]] = []
    checks.append(
        (
            "load generator ran throughout",
            not crashed,
            f"{len(load_tasks)} kiosk/admin tasks, crashed: {crashed[:3]}",
        )
    )
    t0 = time.monotonic()
    verify = subprocess.run(
        [sys.executable, "-m", "stockline", "verify"],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    verify_s = time.monotonic() - t0
    said = [line for line in verify.stdout.splitlines() if line.startswith("verify:")]
    tail = said or (verify.stdout + verify.stderr).strip().splitlines()[-1:] or [""]
    checks.append(
        (
            "stockline verify",
            verify.returncode == 0,
            f"exit {verify.returncode} in {verify_s:.1f} s: {tail[0][:100]}",
        )
    )

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT id, status, message_id, attempt_count FROM email_notification_log"
            " WHERE type = 'low_stock' ORDER BY id"
        ).fetchall()
        breach_events = conn.execute(
            "SELECT count(*) FROM inventory_events WHERE type = 'threshold-breach'"
        ).fetchone()
        ids_between = conn.execute(
            "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM inventory_events"
            " WHERE id > %s",
            (start_id,),
        ).fetchone()
        attempts = conn.execute(
            "SELECT outcome, count(*) FROM email_notification_attempts GROUP BY outcome"
        ).fetchall()
    assert breach_events is not None and ids_between is not None
    statuses = Counter(r[1] for r in rows)
    arrivals = smtp.received()
    accepted = Counter(r.message_id for r in arrivals if r.accepted)
    offered = Counter(r.message_id for r in arrivals)
    known = {r[2] for r in rows}
    not_sent = [(r[0], r[1], r[3]) for r in rows if r[1] != "sent"]
    wrong_count = [(r[0], accepted.get(r[2], 0)) for r in rows if accepted.get(r[2], 0) != 1]
    unknown = [m for m in offered if m not in known]
    mail_ok = bool(rows) and not not_sent and not wrong_count and not unknown
    checks.append(
        (
            "breaches mailed exactly once",
            mail_ok,
            f"{len(rows)} notifications {dict(statuses)}; {len(arrivals)} SMTP arrivals, "
            f"{sum(1 for r in arrivals if not r.accepted)} answered 451; attempts "
            f"{dict((o, n) for o, n in attempts)}; not sent {not_sent[:5]}; "
            f"accepted != 1 {wrong_count[:5]}; unknown Message-IDs {len(unknown)}",
        )
    )
    checks.append(
        (
            "one notification per breach",
            int(breach_events[0]) == len(rows),
            f"{breach_events[0]} threshold-breach events, {len(rows)} low_stock rows",
        )
    )

    # the table's ids after start: dense from start+1 to head?
    count, lo, hi = (int(x) for x in ids_between)
    dense = count == hi - start_id and (count == 0 or lo == start_id + 1)
    final_head = hi
    gappy = [s for s in subs if s.jumps]
    if gappy and not dense:
        # a jump is a gap only where the table holds an id between the two
        with psycopg.connect(db_url) as conn:
            real = []
            for s in gappy:
                for a, b in s.jumps:
                    row = conn.execute(
                        "SELECT count(*) FROM inventory_events WHERE id > %s AND id < %s", (a, b)
                    ).fetchone()
                    if row and row[0]:
                        real.append(s)
                        break
            gappy = real
    behind = [s for s in subs if s.last < final_head]
    dups = [s for s in subs if s.duplicates]
    resets = [s for s in subs if s.resets]
    expected_each = final_head - start_id
    sse_ok = not gappy and not behind and not dups and not resets
    checks.append(
        (
            "SSE gapless, no duplicate",
            sse_ok,
            f"{len(subs)} subscribers x {expected_each} events (ids {start_id + 1}..{final_head},"
            f" table dense: {dense}); with gaps {len(gappy)}, duplicates {len(dups)}, "
            f"resets {len(resets)}, not caught up {len(behind)}"
            + (f" e.g. #{gappy[0].index} jumps {gappy[0].jumps[:3]}" if gappy else "")
            + (f" e.g. #{behind[0].index} last {behind[0].last}" if behind else ""),
        )
    )

    rss_lines = []
    rss_ok = True
    for pid, proc in procs.items():
        a, b, peak = rss_start.get(pid), rss_end.get(pid), rss_peak.get(pid)
        role = _role(proc, parent)
        if a is None or b is None:
            rss_ok = False
            rss_lines.append((pid, role, a, peak, b, "process gone"))
            continue
        growth = (b - a) / a
        ok = growth <= args.rss_tolerance
        rss_ok &= ok
        rss_lines.append((pid, role, a, peak, b, f"{growth:+.1%}"))
    checks.append(
        (
            "server memory flat",
            rss_ok,
            f"end within {args.rss_tolerance:.0%} of start (after {warmup:.0f} s warm-up)"
            f" for {len(procs)} processes",
        )
    )

    # ---------------------------------------------------------------- table
    ok_purchases = load.purchases.get(201, 0)
    cores = os.cpu_count() or 1
    print("\nresults")
    print(f"  load phase               {load_wall:.0f} s, drain {drain_took:.1f} s")
    print(
        f"  purchases                {sum(load.purchases.values())} {dict(load.purchases)} "
        f"({ok_purchases / load_wall:.1f}/s), latency p50 "
        f"{percentile(load.latencies, 50) * 1000:.1f} ms, p99 "
        f"{percentile(load.latencies, 99) * 1000:.1f} ms; {load.resends} resent on a new"
        " connection (idle keep-alive closed)"
    )
    print(
        f"  admin                    {load.restocks} restocks, adjustments {dict(load.adjustments)}"
    )
    print(
        f"  events                   {expected_each} ({expected_each / load_wall:.1f}/s), "
        f"{sum(s.received for s in subs)} deliveries"
    )
    print(
        f"  SSE connections          {sum(s.connects for s in subs)} opened, "
        f"{sum(s.random_drops for s in subs)} dropped by us, "
        f"{sum(s.server_closes for s in subs)} closed by server, "
        f"{sum(s.refused for s in subs)} refused/errors"
    )
    print(
        f"  notifications            {len(rows)} {dict(statuses)}, "
        f"{sum(accepted.values())} accepted, {len(arrivals) - sum(accepted.values())} 451s"
    )
    print(
        f"  CPU                      server {server_cpu / load_wall:.2f} cores, "
        f"PostgreSQL {pg_cpu / load_wall:.2f} cores ({len(pg)} processes), "
        f"load generator {self_cpu / load_wall:.2f} cores "
        f"({self_cpu / load_wall / cores:.0%} of {cores}), incl. the SMTP thread"
    )
    print(f"  verify                   {verify_s:.1f} s")
    print("\n  RSS per server process (MiB)")
    print(f"    {'pid':>7}  {'role':<12} {'start':>7} {'peak':>7} {'end':>7}  change")
    for pid, role, a, peak, b, change in rss_lines:

        def m(v: int | None) -> str:
            return "-" if v is None else f"{v / MiB:.1f}"

        print(f"    {pid:>7}  {role:<12} {m(a):>7} {m(peak):>7} {m(b):>7}  {change}")
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="purchases/s per kiosk")
    parser.add_argument("--life", type=float, default=60, help="mean SSE connection life, s")
    parser.add_argument("--alert-products", type=int, default=5)
    parser.add_argument("--plain-products", type=int, default=20)
    parser.add_argument("--alert-share", type=float, default=0.3)
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--restock-to", type=int, default=30)
    parser.add_argument("--admin-every", type=float, default=3)
    parser.add_argument("--smtp-fail", type=float, default=0.2)
    parser.add_argument("--retry-schedule", default="1,1,2,2,3")
    parser.add_argument("--drain", type=float, default=90, help="max seconds to drain")
    parser.add_argument("--rss-tolerance", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
