"""How fast and how cheaply do stock changes reach SSE subscribers?

N subscribers x E events/s, the events produced by real purchases (POST /api/purchases)
against `stockline serve --workers 2`, and side by side in the same run the naive
reference (bench/sse_reference.py: Starlette + sse-starlette, an asyncio.Queue per
subscriber, one process, in-memory publisher). Reports commit->receive latency p50/p99,
deliveries/s, dropped connections, server memory per subscriber, the CPU of the server
and of this load generator (it shares the machine), and replay catch-up speed.

    PYTHONPATH=src python bench/sse.py                       # small, about a minute
    PYTHONPATH=src python bench/sse.py --subscribers 100,1000,2000,5000 --rates 10,20,50 \\
        --duration 30 --idle 10000 --replay 200000 --json results.json

Latency for stockline is measured from the writing transaction's start (the event
row's created_at = now()) to the moment a subscriber's socket delivered the frame, so
it includes the purchase transaction itself: an upper bound on commit->receive. For
the reference it is from the publisher's clock to receipt. Same machine, same clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import _admin_url, create_database, with_dbname  # noqa: E402
from tests.fixtures.server import free_port, make_shop, start_server  # noqa: E402

from stockline.db.migrate import migrate  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
# pause after every 200 connections opened (--ramp-ms)
RAMP_SECONDS = 0.05


# ------------------------------------------------------------------ process accounting
def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += _tree(int(child))
    return pids


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except OSError:
            pass
    return total


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ subscribers
@dataclass
class Sub:
    sample: bool
    frames: int = 0
    opened: bool = False
    ended: bool = False
    received: list[tuple[int, float, bytes]] = field(default_factory=list)


async def _subscribe(
    sub: Sub, host: str, port: int, path: str, headers: str, stop: asyncio.Event
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        sub.ended = True
        return
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode())
    tail = b""
    buf = b""
    try:
        while not stop.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                sub.ended = True
                return
            sub.opened = True
            now = time.time()
            data = tail + chunk
            sub.frames += data.count(b"\nevent: ")
            tail = data[-7:]  # "\nevent: " is 8 bytes: never counted twice
            if sub.sample:
                buf += chunk.replace(b"\r\n", b"\n")  # sse-starlette ends lines with CRLF
                *frames, buf = buf.split(b"\n\n")
                for frame in frames:
                    if b"\nevent: " not in frame:
                        continue
                    start = frame.find(b"id: ")
                    end = frame.find(b"\n", start)
                    if start >= 0:
                        sub.received.append((int(frame[start + 4 : end]), now, frame))
    except (OSError, asyncio.IncompleteReadError, ValueError):
        sub.ended = True
    finally:
        writer.close()


# ------------------------------------------------------------------ one measured case
@dataclass
class Target:
    name: str
    host: str
    port: int
    path: str
    headers: str
    pids: list[int]


async def _run_case(
    target: Target,
    n: int,
    rate: float,
    duration: float,
    sample: int,
    produce: Any,
    latencies_of: Any,
) -> dict[str, Any]:
    stop = asyncio.Event()
    rss_before = _rss_kib(target.pids)
    subs = [Sub(sample=i < sample) for i in range(n)]
    tasks = []
    for sub in subs:
        tasks.append(
            asyncio.create_task(
                _subscribe(sub, target.host, target.port, target.path, target.headers, stop)
            )
        )
        if len(tasks) % 200 == 0:
            await asyncio.sleep(RAMP_SECONDS)  # do not overflow the listen backlog
    deadline = time.monotonic() + 60
    while sum(s.opened for s in subs) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    rss_idle = _rss_kib(target.pids)
    opened = sum(s.opened for s in subs)
    frames_before = sum(s.frames for s in subs)
    cpu_server0, cpu_self0, wall0 = _cpu_seconds(target.pids), _self_cpu(), time.monotonic()
    produced = await produce(rate, duration)
    await asyncio.sleep(1.0)  # let the tail arrive
    wall = time.monotonic() - wall0
    cpu_server, cpu_self = _cpu_seconds(target.pids) - cpu_server0, _self_cpu() - cpu_self0
    delivered = sum(s.frames for s in subs) - frames_before
    dropped = sum(s.ended for s in subs)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = await latencies_of([s for s in subs if s.sample])
    lat.sort()
    cores = os.cpu_count() or 1

    def pct(p: float) -> float | None:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

    return {
        "target": target.name,
        "subscribers": n,
        "opened": opened,
        "rate": rate,
        "events": produced,
        "expected_deliveries": produced * opened,
        "delivered": delivered,
        "deliveries_per_s": round(delivered / duration),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * lat[-1], 1) if lat else None,
        "dropped": dropped,
        "mem_per_sub_kib": round((rss_idle - rss_before) / max(opened, 1), 1),
        "server_cpu_share": round(cpu_server / (wall * cores), 3),
        "loadgen_cpu_share": round(cpu_self / (wall * cores), 3),
    }


# ------------------------------------------------------------------ producers
def _stockline_producer(base_url: str, token: str, products: list[int]) -> Any:
    async def produce(rate: float, duration: float) -> int:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            sent: list[asyncio.Task[httpx.Response]] = []
            interval, start = 1.0 / rate, time.monotonic()
            i = 0
            while (at := start + i * interval) < start + duration:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                body = {"items": [{"product_id": products[i % len(products)], "quantity": 1}]}
                sent.append(asyncio.create_task(client.post("/api/purchases", json=body)))
                i += 1
            done = await asyncio.gather(*sent, return_exceptions=True)
        return sum(1 for r in done if isinstance(r, httpx.Response) and r.status_code == 201)

    return produce


def _stockline_latencies(db_url: str) -> Any:
    async def latencies(subs: list[Sub]) -> list[float]:
        ids = {i for s in subs for i, _, _ in s.received}
        if not ids:
            return []
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            cur = await conn.execute(
                "SELECT id, extract(epoch FROM created_at)::float8 FROM inventory_events "
                "WHERE id = ANY(%s)",
                (sorted(ids),),
            )
            created = dict(await cur.fetchall())
        return [t - created[i] for s in subs for i, t, _ in s.received if i in created]

    return latencies


def _reference_producer(base: str) -> Any:
    async def produce(rate: float, duration: float) -> int:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            before = (await client.get("/stats")).json()["published"]
            await client.post("/start", params={"rate": rate})
            await asyncio.sleep(duration)
            after = (await client.post("/stop")).json()["published"]
        return int(after - before)

    return produce


async def _reference_latencies(subs: list[Sub]) -> list[float]:
    out = []
    for s in subs:
        for _, t, frame in s.received:
            start = frame.find(b"data: ")
            if start >= 0:
                out.append(t - json.loads(frame[start + 6 :].split(b"\n")[0])["t"])
    return out


# ------------------------------------------------------------------ replay catch-up
async def _replay_speed(server_url: str, token: str, db_url: str, product: int, n: int) -> dict:
    with psycopg.connect(db_url) as conn:
        start = conn.execute("SELECT last_id FROM inventory_event_counter").fetchone()[0]
        for done in range(0, n, 20000):
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source) "
                "SELECT %s, -1, 'system' FROM generate_series(1, %s)",
                (product, min(20000, n - done)),
            )
            conn.commit()
        end = conn.execute("SELECT last_id FROM inventory_event_counter").fetchone()[0]
    host, port = server_url.split("//")[1].split(":")
    sub = Sub(sample=False)
    stop = asyncio.Event()
    headers = f"Authorization: Bearer {token}\r\nLast-Event-ID: {start}\r\n"
    t0 = time.monotonic()
    task = asyncio.create_task(
        _subscribe(sub, host, int(port), "/api/inventory/events", headers, stop)
    )
    while sub.frames < end - start and not sub.ended and time.monotonic() - t0 < 300:
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - t0
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    per_s = round(sub.frames / elapsed)
    return {"events": sub.frames, "seconds": round(elapsed, 2), "per_s": per_s}


# ------------------------------------------------------------------ main
async def _main(args: argparse.Namespace) -> dict[str, Any]:
    database = _admin_url()  # embedded PostgreSQL 18 unless DATABASE_URL; kept alive till the end
    admin = next(database)
    db_url = with_dbname(admin, create_database(admin))
    migrate(db_url)
    env = {
        "STOCKLINE_SSE_HEARTBEAT_SECONDS": "15",
        "STOCKLINE_LOG_LEVEL": "WARNING",
        "STOCKLINE_POOL_MAX_SIZE": "20",
        # thousands of streams on one kiosk's token, and 10,000 idle ones on two workers
        "STOCKLINE_MAX_STREAMS_PER_PRINCIPAL": "100000",
        "STOCKLINE_LIMIT_CONCURRENCY": "20000",
    }
    server = start_server(db_url, workers=args.workers, env=env)
    ref_port = free_port()
    reference = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sse_reference.py"), "--port", str(ref_port)],
        start_new_session=True,
    )
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": args.note,
        },
        "cases": [],
    }
    try:
        shop = make_shop(server)
        products = [shop.create_product(stock=10**9)["id"] for _ in range(8)]
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{ref_port}/stats", timeout=1)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        ours = Target(
            "stockline",
            "127.0.0.1",
            server.port,
            "/api/inventory/events",
            f"Authorization: Bearer {shop.kiosk_token}\r\n",
            _tree(server.process.pid),
        )
        ref = Target("reference", "127.0.0.1", ref_port, "/events", "", [reference.pid])
        produce_ours = _stockline_producer(server.url, shop.kiosk_token, products)
        latencies_ours = _stockline_latencies(db_url)
        produce_ref = _reference_producer(f"http://127.0.0.1:{ref_port}")
        # idle first, on fresh processes: RSS never shrinks, later cases reuse freed memory
        if args.idle:
            for target in (ours, ref):
                case = await _run_case(target, args.idle, 1, 1, 0, _idle, _no_latency)
                case = {"idle": True, **case}
                results["cases"].append(case)
                print(json.dumps(case), flush=True)
        for n in args.subscribers:
            for rate in args.rates:
                for target, produce, lat in (
                    (ours, produce_ours, latencies_ours),
                    (ref, produce_ref, _reference_latencies),
                ):
                    if target is ref and args.no_reference:
                        continue
                    case = await _run_case(
                        target, n, rate, args.duration, args.sample, produce, lat
                    )
                    results["cases"].append(case)
                    print(json.dumps(case), flush=True)
        if args.replay:
            results["replay"] = await _replay_speed(
                server.url, shop.kiosk_token, db_url, products[0], args.replay
            )
            print(json.dumps({"replay": results["replay"]}), flush=True)
    finally:
        reference.terminate()
        reference.wait(10)
        server.stop()
        database.close()
    return results


async def _idle(rate: float, duration: float) -> int:
    await asyncio.sleep(duration)
    return 0


async def _no_latency(subs: list[Sub]) -> list[float]:
    return []


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=_ints, default=[50, 200])
    parser.add_argument("--rates", type=_floats, default=[10.0, 20.0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per case")
    parser.add_argument("--sample", type=int, default=50, help="subscribers timing each event")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=int, default=0, help="idle subscribers for memory")
    parser.add_argument(
        "--ramp-ms", type=float, default=50, help="pause after every 200 connections opened"
    )
    parser.add_argument("--replay", type=int, default=20000, help="events for replay speed")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--json", type=Path, help="write all results here")
    args = parser.parse_args()
    global RAMP_SECONDS
    RAMP_SECONDS = args.ramp_ms / 1000
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(_main(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    _print_table(results)


def _print_table(results: dict[str, Any]) -> None:
    print(f"\nmachine: {results['machine']}")
    head = (
        f"{'target':<10} {'subs':>6} {'ev/s':>5} {'deliv/s':>8} {'expected':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'drop':>5} {'KiB/sub':>8} {'srv cpu':>8} {'gen cpu':>8}"
    )
    print(head)
    for c in results["cases"]:
        print(
            f"{c['target']:<10} {c['subscribers']:>6} {c['rate']:>5g} {c['deliveries_per_s']:>8} "
            f"{c['expected_deliveries']:>9} {c['p50_ms']!s:>7} {c['p99_ms']!s:>7} "
            f"{c['dropped']:>5} {c['mem_per_sub_kib']:>8} {c['server_cpu_share']:>8.0%} "
            f"{c['loadgen_cpu_share']:>8.0%}" + ("  (idle)" if c.get("idle") else "")
        )
    if "replay" in results:
        r = results["replay"]
        print(f"replay catch-up: {r['events']} events in {r['seconds']} s = {r['per_s']}/s")
    if results["cases"]:
        print("p50/p99: stockline from the purchase transaction's start (upper bound)")


if __name__ == "__main__":
    main()
