"""Kiosk purchases that arrive together share one statement (inventory/purchase_batch.py,
migration 0028), and each still gets what it would have got alone.

To make a batch for certain, a test holds one product's row lock from another session:
the first purchase waits on it in the database, holding the process's one slot, and the
purchases submitted meanwhile queue; when the lock goes, they go together. That they
committed together is read from the database: their transaction rows share one xmin.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stockline.auth import token_hash
from stockline.config import Settings
from stockline.db.pool import make_pool
from stockline.errors import IdempotencyConflict, InvalidInput, NotFound
from stockline.inventory.models import PurchaseLine
from stockline.inventory.purchase_batch import Answer, KioskPurchase, PurchaseBatcher
from tests.e2e.fault_support import run_verify
from tests.fixtures.aio import run

_LOCK = "SELECT 1 FROM products WHERE id = %s FOR UPDATE"


def _setup(db_url: str) -> tuple[str, list[int], int]:
    """(a kiosk token, five products with stock 100, a sixth that is not for sale)."""
    token = "kiosk_" + uuid.uuid4().hex
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO kiosks (name, token_hash) VALUES (%s, %s)",
            (f"batch-{token[-6:]}", token_hash(token)),
        )
        ids = []
        for n in range(6):
            row = conn.execute(
                "INSERT INTO products (sku, name, price_cents, low_stock_threshold, active)"
                " VALUES (%s, %s, %s, 5, %s) RETURNING id",
                (f"BATCH-{uuid.uuid4().hex[:8]}", f"Batch {n}", 100 * (n + 1), n < 5),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source)"
                " VALUES (%s, 100, 'system')",
                (row[0],),
            )
    return token, ids[:5], ids[5]


def _purchase(
    token: str, lines: list[tuple[int, int]], key: str | None = None, body: str | None = None
) -> KioskPurchase:
    digest = hashlib.sha256((body or repr(lines)).encode()).digest()
    return KioskPurchase(token_hash(token), [PurchaseLine(p, q) for p, q in lines], key, digest)


@asynccontextmanager
async def _batcher(db_url: str, **kwargs: Any) -> AsyncIterator[PurchaseBatcher]:
    """One batch in the database at a time, never counted as stalled: what queues while
    the first purchase waits is the next batch, for certain."""
    pool = make_pool(Settings(DATABASE_URL=db_url))
    await pool.open(wait=True)
    try:
        yield PurchaseBatcher(pool, **{"in_flight": 1, "stalled_after": 60.0, **kwargs})
    finally:
        await pool.close()


async def _wave(
    db_url: str,
    batcher: PurchaseBatcher,
    token: str,
    blocker: int,
    purchases: list[KioskPurchase],
) -> tuple[Answer | BaseException, list[Answer | BaseException]]:
    """The first purchase (of `blocker`) waits on a row lock while `purchases` queue;
    then the lock goes. Returns the first one's answer and theirs, in order."""
    holder = await psycopg.AsyncConnection.connect(db_url)
    try:
        await holder.execute("SELECT 1 FROM products WHERE id = %s FOR UPDATE", (blocker,))
        first = asyncio.ensure_future(batcher.purchase(_purchase(token, [(blocker, 1)])))
        await _until_waiting_on_a_lock(db_url)
        rest = [asyncio.ensure_future(batcher.purchase(p)) for p in purchases]
        await asyncio.sleep(0.05)
        assert not any(r.done() for r in rest)  # queued behind the first
        await holder.rollback()
    finally:
        await holder.close()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    return answers[0], list(answers[1:])


async def _until_waiting_on_a_lock(db_url: str, query: str = "%") -> int:
    """The pid of a backend of this database waiting on a lock (running `query`)."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        async with asyncio.timeout(10):
            while True:
                cur = await conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    (query,),
                )
                row = await cur.fetchone()
                if row is not None:
                    return int(row[0])
                await asyncio.sleep(0.02)


def _xmins(db_url: str, transaction_ids: list[int]) -> set[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT xmin::text FROM transactions WHERE id = ANY(%s)", (transaction_ids,)
        ).fetchall()
    assert len(rows) == len(transaction_ids)
    return {r[0] for r in rows}


def _ok(answer: Answer | BaseException) -> dict[str, Any]:
    assert isinstance(answer, tuple), answer
    body, replayed = answer
    assert not replayed
    return body


def test_purchases_that_arrive_while_one_is_in_the_database_commit_together(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)
    baskets = [[(ids[1], 2), (ids[2], 1)], [(ids[3], 1)], [(ids[1], 1), (ids[1], 3)], [(ids[4], 5)]]
    purchases = [
        _purchase(token, b, key=None if n == 1 else f"k-{n}") for n, b in enumerate(baskets)
    ]

    async def scenario() -> tuple[Answer | BaseException, list[Answer | BaseException]]:
        async with _batcher(fresh_db) as batcher:
            return await _wave(fresh_db, batcher, token, ids[0], purchases)

    first, answers = run(scenario())
    bodies = [_ok(a) for a in answers]
    assert _ok(first)["total_cents"] == 100
    # together: one transaction for the four, the lone first one in its own
    assert len(_xmins(fresh_db, [b["transaction_id"] for b in bodies])) == 1
    assert _xmins(fresh_db, [_ok(first)["transaction_id"]]) != _xmins(
        fresh_db, [bodies[0]["transaction_id"]]
    )
    for body, basket in zip(bodies, baskets, strict=True):
        assert [(i["product_id"], i["quantity"]) for i in body["items"]] == basket
        assert body["total_cents"] == sum(i["line_total_cents"] for i in body["items"])
    assert bodies[0]["total_cents"] == 2 * 200 + 300
    with psycopg.connect(fresh_db, row_factory=dict_row) as conn:
        ledger = conn.execute(
            "SELECT product_id, delta, transaction_id FROM inventory_ledger"
            " WHERE source = 'purchase' ORDER BY id"
        ).fetchall()
        stored = conn.execute(
            "SELECT key, response FROM idempotency_keys WHERE key LIKE 'k-%' ORDER BY key"
        ).fetchall()
        snapshots = conn.execute(
            "SELECT product_id, current_stock FROM inventory_snapshot WHERE product_id = ANY(%s)",
            (ids,),
        ).fetchall()
    stock = {r["product_id"]: r["current_stock"] for r in snapshots}
    # one ledger row per line, in purchase then line order, each with its transaction
    expected = [(ids[0], -1, _ok(first)["transaction_id"])] + [
        (p, -q, body["transaction_id"])
        for body, basket in zip(bodies, baskets, strict=True)
        for p, q in basket
    ]
    assert [(r["product_id"], r["delta"], r["transaction_id"]) for r in ledger] == expected
    # each key keeps its own purchase's answer
    assert [r["response"] for r in stored] == [bodies[0], bodies[2], bodies[3]]
    assert stock == {ids[0]: 99, ids[1]: 94, ids[2]: 99, ids[3]: 99, ids[4]: 95}
    _verified(fresh_db)


def test_each_purchase_of_a_batch_gets_what_it_would_have_got_alone(fresh_db: str) -> None:
    token, ids, inactive = _setup(fresh_db)

    async def scenario() -> tuple[Answer, list[Answer | BaseException], Answer | BaseException]:
        async with _batcher(fresh_db) as batcher:
            earlier = await batcher.purchase(_purchase(token, [(ids[1], 1)], key="seen"))
            purchases = [
                _purchase(token, [(ids[1], 1)], key="seen"),  # replay
                _purchase(token, [(ids[2], 1)], key="seen", body="other"),  # another body
                _purchase(token, [(ids[2], 1), (999_999_999, 1), (999_999_998, 2)], key="gone"),
                _purchase(token, [(inactive, 1)], key="idle"),
                _purchase("kiosk_unknown", [(ids[3], 1)], key="who"),
                _purchase(token, [(ids[4], 2)], key="fine"),
            ]
            _, answers = await _wave(fresh_db, batcher, token, ids[0], purchases)
            # a refused purchase keeps no key: the same key with a good basket buys
            again = await batcher.purchase(_purchase(token, [(ids[2], 1)], key="gone"))
            return earlier, answers, again

    earlier, answers, again = run(scenario())
    replay, conflict, missing, not_for_sale, unknown_kiosk, fine = answers
    assert earlier is not None and replay == (earlier[0], True)
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(missing, NotFound)
    assert missing.detail == "unknown product id(s): 999999998, 999999999"
    assert isinstance(not_for_sale, InvalidInput)
    assert not_for_sale.detail == f"product(s) not for sale: {inactive}"
    assert unknown_kiosk is None
    assert _ok(fine)["total_cents"] == 2 * 500
    assert [(i["product_id"], i["quantity"]) for i in _ok(again)["items"]] == [(ids[2], 1)]
    with psycopg.connect(fresh_db) as conn:
        keys = conn.execute("SELECT key FROM idempotency_keys ORDER BY key").fetchall()
        bought = conn.execute("SELECT count(*) FROM transactions").fetchone()
    assert [k[0] for k in keys] == ["fine", "gone", "seen"]
    assert bought == (4,)  # earlier, the blocker, fine, again
    _verified(fresh_db)


def test_the_same_key_twice_in_one_wave_is_bought_once(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)
    twice = [_purchase(token, [(ids[1], 1)], key="twice") for _ in range(2)]

    async def scenario() -> list[Answer | BaseException]:
        async with _batcher(fresh_db) as batcher:
            return (await _wave(fresh_db, batcher, token, ids[0], twice))[1]

    first, second = run(scenario())
    assert isinstance(first, tuple) and isinstance(second, tuple)
    assert (first[0], second) == (second[0], (first[0], True))
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM transaction_items WHERE product_id = %s", (ids[1],)
        ).fetchone() == (1,)


def test_a_batch_the_database_refuses_runs_each_purchase_alone(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        # a fault in the database itself: any line of ids[3] fails its statement
        conn.execute(
            "CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.product_id = {ids[3]} THEN RAISE EXCEPTION 'injected fault'; END IF;"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_fault BEFORE INSERT ON transaction_items"
            " FOR EACH ROW EXECUTE FUNCTION test_fault()"
        )
    purchases = [
        _purchase(token, [(ids[1], 1)], key="a"),
        _purchase(token, [(ids[3], 1)], key="b"),
        _purchase(token, [(ids[2], 1)]),
    ]

    async def scenario() -> list[Answer | BaseException]:
        async with _batcher(fresh_db) as batcher:
            return (await _wave(fresh_db, batcher, token, ids[0], purchases))[1]

    good, faulty, keyless = run(scenario())
    assert isinstance(faulty, psycopg.errors.RaiseException)
    # the others, run alone after the batch rolled back, each bought once
    assert len(_xmins(fresh_db, [_ok(good)["transaction_id"], _ok(keyless)["transaction_id"]])) == 2
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (3,)
        assert conn.execute("SELECT key FROM idempotency_keys").fetchall() == [("a",)]
    _verified(fresh_db)


def test_a_batch_whose_connection_dies_fails_each_purchase_and_runs_none_twice(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)

    async def scenario() -> list[Answer | BaseException]:
        async with _batcher(fresh_db) as batcher:
            first_lock = await psycopg.AsyncConnection.connect(fresh_db)
            batch_lock = await psycopg.AsyncConnection.connect(fresh_db)
            try:
                await first_lock.execute(_LOCK, (ids[2],))
                await batch_lock.execute(_LOCK, (ids[0],))
                first = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[2], 1)])))
                await _until_waiting_on_a_lock(fresh_db)
                rest = [
                    asyncio.ensure_future(batcher.purchase(_purchase(token, [(p, 1)])))
                    for p in ids[:2]
                ]
                await asyncio.sleep(0.05)
                await first_lock.rollback()  # the first goes; the batch waits on ids[0]
                await first
                pid = await _until_waiting_on_a_lock(fresh_db, "%purchase_batch%")
                async with await psycopg.AsyncConnection.connect(fresh_db) as admin:
                    await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
                return list(await asyncio.gather(*rest, return_exceptions=True))
            finally:
                await first_lock.close()
                await batch_lock.close()

    answers = run(scenario())
    assert all(isinstance(a, psycopg.OperationalError) for a in answers), answers
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM transaction_items WHERE product_id = ANY(%s)", (ids[:2],)
        ).fetchone() == (0,)
    _verified(fresh_db)


def _verified(db_url: str) -> None:
    verify = run_verify(db_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_purchase_stuck_on_a_lock_does_not_hold_up_purchases_of_other_products(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)

    async def scenario() -> tuple[bool, Answer | BaseException, Answer | BaseException]:
        async with _batcher(fresh_db, stalled_after=0.05) as batcher:
            holder = await psycopg.AsyncConnection.connect(fresh_db)
            try:
                await holder.execute(_LOCK, (ids[0],))
                stuck = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[0], 1)])))
                await _until_waiting_on_a_lock(fresh_db)
                await asyncio.sleep(0.1)  # longer than stalled_after
                async with asyncio.timeout(5):
                    other = await batcher.purchase(_purchase(token, [(ids[1], 1)]))
                still_waiting = not stuck.done()
                await holder.rollback()
            finally:
                await holder.close()
            return still_waiting, other, await stuck

    still_waiting, other, stuck = run(scenario())
    assert still_waiting  # the other product was bought while the first still waited
    assert _ok(other)["items"][0]["product_id"] == ids[1]
    assert _ok(stuck)["items"][0]["product_id"] == ids[0]


def test_with_batching_off_purchases_run_alone_and_in_parallel(fresh_db: str) -> None:
    token, ids, _ = _setup(fresh_db)

    async def scenario() -> list[Answer | BaseException]:
        async with _batcher(fresh_db, max_batch=1) as batcher:
            holder = await psycopg.AsyncConnection.connect(fresh_db)
            try:
                await holder.execute(_LOCK, (ids[0],))
                stuck = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[0], 1)])))
                await _until_waiting_on_a_lock(fresh_db)
                others = await asyncio.gather(
                    *(batcher.purchase(_purchase(token, [(p, 1)])) for p in ids[1:4])
                )
                await holder.rollback()
            finally:
                await holder.close()
            return [*others, await stuck]

    answers = run(scenario())
    ids_bought = [_ok(a)["transaction_id"] for a in answers]
    assert len(_xmins(fresh_db, ids_bought)) == 4  # each its own transaction
