"""A batch of kiosk purchases numbers its own events when the positioner lock is free,
and its NOTIFY carries them (migration 0029); when the lock or the counter row is taken
it commits unnumbered and its process rings a round. The positioner skips a round whose
rings a later inline numbering covered, and runs it otherwise (events/positions.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stockline.auth import token_hash
from stockline.config import Settings
from stockline.db.pool import make_pool
from stockline.events.positions import Positioner
from stockline.inventory.purchase_batch import PurchaseBatcher
from tests.fixtures.aio import run
from tests.integration.test_purchase_batch import _purchase, _setup

BATCH = (
    "SELECT stockline_transactions_purchase_batch_v2(%s::bytea[], %s::text[], %s::bytea[],"
    " %s::int[], %s::bigint[], %s::int[]) AS r"
)
LOCK_KEY = "SELECT pg_advisory_xact_lock(stockline_inventory_events_lock_key())"


def _batch(
    conn: psycopg.Connection[Any], token: str, baskets: list[list[tuple[int, int]]]
) -> dict[str, Any]:
    row = conn.execute(
        BATCH,
        (
            [token_hash(token)] * len(baskets),
            [uuid.uuid4().hex for _ in baskets],
            [uuid.uuid4().bytes for _ in baskets],
            [n for n, basket in enumerate(baskets, 1) for _ in basket],
            [p for basket in baskets for p, _ in basket],
            [q for basket in baskets for _, q in basket],
        ),
    ).fetchone()
    assert row is not None
    return dict(row["r"])


def _service_conn(db_url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(db_url, autocommit=True, row_factory=dict_row)
    conn.execute("SET stockline.event_positions = 'after_commit'")  # as db/pool.py does
    return conn


def _unnumbered(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM inventory_events WHERE id IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def _notifies(listener: psycopg.Connection[Any]) -> list[str]:
    listener.execute("SELECT 1")  # let psycopg take in what has arrived
    return [n.payload for n in listener.notifies(timeout=0.2)]


def test_a_batch_numbers_its_events_and_its_notify_carries_them_as_the_table_has_them(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as listener, _service_conn(fresh_db) as conn:
        listener.execute("LISTEN inventory_events")
        out = _batch(conn, token, [[(ids[0], 1), (ids[1], 2)], [(ids[2], 1)]])
        assert out["numbered"] is True
        assert [o["outcome"] for o in out["outcomes"]] == ["created", "created"]
        assert _unnumbered(fresh_db) == 0
        payloads = _notifies(listener)
        rows = conn.execute(
            "SELECT id, type, payload::text AS data FROM inventory_events"
            " WHERE id > (SELECT last_id FROM inventory_event_counter) - 3 ORDER BY id"
        ).fetchall()
    assert len(rows) == 3
    head = f"events/1 {rows[0]['id']} {rows[-1]['id']}\n"
    expected = head + "\n".join(f"{r['id']}\t{r['type']}\t{r['data']}" for r in rows)
    assert payloads == [expected]


def test_a_batch_that_finds_the_lock_or_the_counter_row_taken_commits_unnumbered(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)
    for holding in (LOCK_KEY, "SELECT 1 FROM inventory_event_counter FOR UPDATE"):
        with (
            psycopg.connect(fresh_db) as holder,
            psycopg.connect(fresh_db, autocommit=True) as listener,
            _service_conn(fresh_db) as conn,
        ):
            listener.execute("LISTEN inventory_events")
            holder.execute(holding)  # another positioner, or a decision-0001 writer
            out = _batch(conn, token, [[(ids[0], 1)]])
            assert out == {"outcomes": [out["outcomes"][0]], "numbered": False}
            assert out["outcomes"][0]["outcome"] == "created"
            assert _unnumbered(fresh_db) == 1  # committed, waiting for a round
            assert _notifies(listener) == []
            holder.rollback()
            again = _batch(conn, token, [[(ids[1], 1)]])
            assert again["numbered"] is True
            assert _unnumbered(fresh_db) == 0  # the earlier commit numbered with it
            assert len(_notifies(listener)) == 1


def test_a_payload_too_long_for_notify_goes_as_an_empty_doorbell(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)
    baskets = [[(p, 1) for p in ids] * 4 for _ in range(8)]  # 160 events, ~20 KB
    with psycopg.connect(fresh_db, autocommit=True) as listener, _service_conn(fresh_db) as conn:
        listener.execute("LISTEN inventory_events")
        out = _batch(conn, token, baskets)
        assert out["numbered"] is True
        assert _unnumbered(fresh_db) == 0
        assert _notifies(listener) == [""]


def test_a_batch_of_replays_only_numbers_nothing_and_rings_nothing(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as listener, _service_conn(fresh_db) as conn:
        args = ([token_hash(token)], ["same"], [b"\x01"], [1], [ids[0]], [1])
        first = conn.execute(BATCH, args).fetchone()
        assert first is not None and first["r"]["numbered"] is True
        listener.execute("LISTEN inventory_events")
        replay = conn.execute(BATCH, args).fetchone()
        assert replay is not None
        assert replay["r"]["outcomes"][0]["outcome"] == "replay"
        assert replay["r"]["numbered"] is None  # nothing bought, nothing numbered
        assert _notifies(listener) == []


@asynccontextmanager
async def _running(db_url: str, **settings: Any) -> AsyncIterator[Positioner]:
    """A process's positioner loop, running on its own pool."""
    pool = make_pool(Settings(DATABASE_URL=db_url))
    await pool.open(wait=True)
    positioner = Positioner(pool, **settings)
    task = asyncio.create_task(positioner.run())
    try:
        yield positioner
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()


class Recorder:
    """The positioner as the batcher sees it, recording what it is told."""

    def __init__(self) -> None:
        self.rings = 0
        self.marks: list[int] = []  # what each inline numbering covered
        self.in_flight = 0

    def mark(self) -> int:
        self.in_flight += 1
        return self.rings

    def settled(self, mark: int, *, numbered: bool) -> None:
        self.in_flight -= 1
        if numbered:
            self.marks.append(mark)

    def ring(self) -> None:
        self.rings += 1


def test_the_batcher_reports_inline_numbering_and_rings_when_it_could_not(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)

    async def go() -> None:
        pool = make_pool(Settings(DATABASE_URL=fresh_db))
        await pool.open(wait=True)
        recorder = Recorder()
        calls = recorder.marks
        try:
            batcher = PurchaseBatcher(pool, numbering=recorder)
            assert await batcher.purchase(_purchase(token, [(ids[0], 1)])) is not None
            assert calls == [0] and recorder.rings == 0  # numbered in its own transaction
            async with await psycopg.AsyncConnection.connect(fresh_db) as holder:
                await holder.execute(LOCK_KEY)
                assert await batcher.purchase(_purchase(token, [(ids[1], 1)])) is not None
                assert calls == [0] and recorder.rings == 1  # a round must number it
            assert await batcher.purchase(_purchase(token, [(ids[2], 1)])) is not None
            assert calls == [0, 1]  # sent after that ring: it covers it
            # a batch that bought nothing (a replay) numbered nothing and covers no ring
            async with await psycopg.AsyncConnection.connect(fresh_db) as holder:
                await holder.execute(LOCK_KEY)
                first = _purchase(token, [(ids[4], 1)], key="again")
                assert await batcher.purchase(first) is not None
            assert recorder.rings == 2 and calls == [0, 1]
            replay = await batcher.purchase(first)
            assert replay is not None and replay[1] is True
            assert recorder.rings == 2 and calls == [0, 1]  # the round still must run
            assert recorder.in_flight == 0
            alone = PurchaseBatcher(pool, max_batch=1, numbering=recorder)
            assert await alone.purchase(_purchase(token, [(ids[3], 1)])) is not None
            assert recorder.rings == 3  # batching off: the single statement rings
        finally:
            await pool.close()

    run(go())


def test_the_positioner_skips_a_round_a_later_inline_numbering_covered(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)

    async def until(condition: Any) -> None:
        async with asyncio.timeout(5):
            while not condition():
                await asyncio.sleep(0.01)

    async def go() -> None:
        async with _running(fresh_db, interval_seconds=60, defer_seconds=0.3) as positioner:
            await asyncio.sleep(0.05)  # the loop waits for a ring
            # no statement in flight: a ring's round runs at once, without the deferral
            positioner.ring()
            await until(lambda: positioner.rounds == 1)
            # a batch in flight that numbers inline, answering during the deferral
            in_flight = positioner.mark()
            positioner.ring()  # another batch that could not number, before it
            later = positioner.mark()  # marked after the ring: it will cover it
            await asyncio.sleep(0.1)
            assert positioner.rounds == 1  # deferred: a batch in flight may number it
            positioner.settled(in_flight, numbered=False)
            positioner.settled(later, numbered=True)
            await until(lambda: positioner.skipped == 1)
            assert positioner.rounds == 1 and positioner.runs == 1
            # one marked before the ring does not cover it: the round runs
            before = positioner.mark()
            with _service_conn(fresh_db) as conn, psycopg.connect(fresh_db) as holder:
                holder.execute(LOCK_KEY)
                assert _batch(conn, token, [[(ids[0], 1)]])["numbered"] is False
                holder.rollback()
            positioner.ring()
            positioner.settled(before, numbered=True)
            await until(lambda: positioner.rounds == 2)
            assert positioner.skipped == 1
            assert _unnumbered(fresh_db) == 0

    run(go())


def test_covered_rings_never_put_off_the_timer_run(fresh_db: str) -> None:
    async def go() -> None:
        async with _running(fresh_db, interval_seconds=0.3, defer_seconds=0.001) as positioner:
            async with asyncio.timeout(5):
                while positioner.runs < 3:  # rings every 20 ms, each one covered
                    positioner.ring()
                    positioner.settled(positioner.mark(), numbered=True)
                    await asyncio.sleep(0.02)
            assert positioner.skipped > positioner.runs  # most were skipped, not all

    run(go())


def test_while_the_notify_queue_is_over_one_percent_full_payloads_go_as_doorbells(
    fresh_db: str,
) -> None:
    """A listener that stopped reading holds the cluster's NOTIFY queue; payloads must not
    fill it faster than doorbells would (a full queue fails every notifying COMMIT)."""
    token, ids, _ = _setup(fresh_db)
    with (
        psycopg.connect(fresh_db, autocommit=True) as stuck,
        psycopg.connect(fresh_db, autocommit=True) as filler,
        _service_conn(fresh_db) as conn,
    ):
        stuck.execute("LISTEN inventory_events")
        stuck.execute("LISTEN stockline_test_filler")
        stuck.execute("BEGIN")  # idle in a transaction: it takes in no notification
        assert _batch(conn, token, [[(ids[0], 1)]])["numbered"] is True
        # 11,000 distinct payloads of 8 kB: 88 MB, over 1 % of the 8 GB queue
        filler.execute(
            "SELECT count(pg_notify('stockline_test_filler', repeat('x', 7900) || g::text))"
            " FROM generate_series(1, 11000) g"
        )
        usage = filler.execute("SELECT pg_notification_queue_usage()").fetchone()
        assert usage is not None and usage[0] > 0.01
        assert _batch(conn, token, [[(ids[1], 1)]])["numbered"] is True
        stuck.execute("COMMIT")
        payloads = [
            n.payload
            for n in stuck.notifies(timeout=60, stop_after=11_002)
            if n.channel == "inventory_events"
        ]
    assert payloads[0].startswith("events/1 ")  # the queue was empty
    assert payloads[1:] == [""]  # the queue was over 1 % full: a doorbell
