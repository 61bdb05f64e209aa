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


def _stuck_and_other(db_url: str, *, stalled_after: float, other_after: float) -> None:
    """A purchase waits on a row lock held elsewhere; `other_after` seconds later one of
    another product is submitted: it is bought while the first still waits."""
    token, ids, _ = _setup(db_url)

    async def scenario() -> tuple[bool, Answer | BaseException, Answer | BaseException]:
        async with _batcher(db_url, stalled_after=stalled_after) as batcher:
            holder = await psycopg.AsyncConnection.connect(db_url)
            try:
                await holder.execute(_LOCK, (ids[0],))
                stuck = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[0], 1)])))
                await _until_waiting_on_a_lock(db_url)
                await asyncio.sleep(other_after)
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


def test_a_purchase_stuck_on_a_lock_does_not_hold_up_purchases_of_other_products(
    fresh_db: str,
) -> None:
    # it arrives once the first counts as stalled
    _stuck_and_other(fresh_db, stalled_after=0.05, other_after=0.1)


def test_a_purchase_queued_behind_a_stuck_one_goes_once_the_stuck_one_counts_as_stalled(
    fresh_db: str,
) -> None:
    # it queues well before the first counts as stalled, and nothing arrives after it
    _stuck_and_other(fresh_db, stalled_after=0.5, other_after=0)


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


def test_a_batch_held_up_by_one_products_lock_gives_up_and_its_purchases_go_alone(
    fresh_db: str,
) -> None:
    token, ids, _ = _setup(fresh_db)

    async def scenario() -> tuple[bool, Answer | BaseException, Answer | BaseException]:
        async with _batcher(fresh_db) as batcher:
            first_lock = await psycopg.AsyncConnection.connect(fresh_db)
            long_lock = await psycopg.AsyncConnection.connect(fresh_db)
            try:
                await first_lock.execute(_LOCK, (ids[2],))
                await long_lock.execute(_LOCK, (ids[0],))  # a long transaction elsewhere
                first = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[2], 1)])))
                await _until_waiting_on_a_lock(fresh_db)
                held = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[0], 1)])))
                free = asyncio.ensure_future(batcher.purchase(_purchase(token, [(ids[1], 1)])))
                await asyncio.sleep(0.05)
                await first_lock.rollback()  # the batch [held, free] goes and waits on ids[0]
                await first
                async with asyncio.timeout(5):  # its lock wait is bounded (250 ms)
                    bought = await free
                still_waiting = not held.done()
                await long_lock.rollback()
            finally:
                await first_lock.close()
                await long_lock.close()
            return still_waiting, bought, await held

    still_waiting, bought, held = run(scenario())
    assert still_waiting  # the free product was bought while the other's lock was held
    assert _ok(bought)["items"][0]["product_id"] == ids[1]
    assert _ok(held)["items"][0]["product_id"] == ids[0]
    _verified(fresh_db)


def test_the_batch_statement_answers_each_case_as_the_single_one(fresh_db: str) -> None:
    """Called directly: two kiosks and a disabled one, a replay and a conflict in one
    batch, unknown before inactive, and products whose tracking is off."""
    token, ids, inactive = _setup(fresh_db)
    other, disabled = "kiosk_" + uuid.uuid4().hex, "kiosk_" + uuid.uuid4().hex
    with psycopg.connect(fresh_db, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "INSERT INTO kiosks (name, token_hash, disabled) VALUES ('other', %s, false),"
            " ('off', %s, true)",
            (token_hash(other), token_hash(disabled)),
        )
        conn.execute(
            "UPDATE inventory_snapshot SET tracking_enabled = false WHERE product_id = %s",
            (ids[4],),
        )
        conn.execute("SET stockline.event_positions = 'after_commit'")
        kiosk_id = conn.execute(
            "SELECT id FROM kiosks WHERE token_hash = %s", (token_hash(token),)
        ).fetchone()
        assert kiosk_id is not None
        alone = conn.execute(
            "SELECT stockline_transactions_purchase_v1(%s, 'seen', '\\x01'::bytea, %s,"
            " %s::bigint[], '{1}'::int[]) AS r",
            (f"kiosk:{kiosk_id['id']}", kiosk_id["id"], [ids[1]]),
        ).fetchone()
        assert alone is not None
        cases = [
            (token, "seen", b"\x01", [(ids[1], 1)]),  # replay
            (other, "seen", b"\x02", [(ids[1], 1)]),  # the same key, another kiosk: new
            (token, "seen2", b"\x03", [(ids[2], 2), (ids[3], 1)]),
            (disabled, "x", b"\x04", [(ids[1], 1)]),
            (token, "bad", b"\x05", [(inactive, 1), (999_999_999, 1)]),
            (token, None, b"\x06", [(ids[4], 3)]),  # tracking off: sold, no ledger row
        ]
        row = conn.execute(
            "SELECT stockline_transactions_purchase_batch_v1(%s::bytea[], %s::text[],"
            " %s::bytea[], %s::int[], %s::bigint[], %s::int[]) AS r",
            (
                [token_hash(t) for t, _, _, _ in cases],
                [k for _, k, _, _ in cases],
                [h for _, _, h, _ in cases],
                [n for n, c in enumerate(cases, 1) for _ in c[3]],
                [p for c in cases for p, _ in c[3]],
                [q for c in cases for _, q in c[3]],
            ),
        ).fetchone()
        assert row is not None
        out = row["r"]
        # a conflict within the batch statement itself (the batcher never sends one)
        conflict = conn.execute(
            "SELECT stockline_transactions_purchase_batch_v1(%s::bytea[], '{seen,nope}',"
            " '{\\\\x09,\\\\x0a}'::bytea[], '{1,2}', %s::bigint[], '{1,1}') AS r",
            ([token_hash(token), b"unknown-token"], [ids[1], ids[2]]),
        ).fetchone()
        assert conflict is not None
        no_ledger = conn.execute(
            "SELECT count(*) AS n FROM inventory_ledger"
            " WHERE product_id = %s AND source = 'purchase'",
            (ids[4],),
        ).fetchone()
    assert [o["outcome"] for o in out] == [
        "replay",
        "created",
        "created",
        "unauthenticated",
        "refused",
        "created",
    ]
    assert out[0]["answer"] == alone["r"]["answer"]
    assert out[4] == {
        "outcome": "refused",
        "sqlstate": "SL404",
        "message": "unknown product id(s): 999999999",
    }
    assert out[2]["answer"]["total_cents"] == 2 * 300 + 400
    assert [(i["product_id"], i["quantity"]) for i in out[2]["answer"]["items"]] == [
        (ids[2], 2),
        (ids[3], 1),
    ]
    assert set(out[2]["answer"]) == set(alone["r"]["answer"])
    assert [o["outcome"] for o in conflict["r"]] == ["conflict", "unauthenticated"]
    assert no_ledger == {"n": 0}
    _verified(fresh_db)
