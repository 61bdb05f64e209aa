"""Event positions assigned after commit (decision 0003), at the database level: writers
that defer their position run in parallel, late commits get later positions, a reader that
pages by position never steps over one, and decision-0001 writers still interleave."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg

from stockline.db.queries import load

DEFERRED = "SET stockline.event_positions = 'after_commit'"


def _product(db_url: str, stock: int = 1000) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO products (sku, name, price_cents) VALUES (%s, 'p', 100) RETURNING id",
            (f"P{random.getrandbits(40)}",),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, %s, 'system')",
            (row[0], stock),
        )
    return int(row[0])


def _deferred(db_url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(db_url)
    conn.execute(DEFERRED)
    conn.commit()
    return conn


def _position(conn: psycopg.Connection[Any], wait_ms: int = 2000) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT * FROM stockline_inventory_events_position_v1(%s)", (wait_ms,)
    ).fetchone()
    conn.commit()
    assert row is not None
    return tuple(row)


def _sell(conn: psycopg.Connection[Any], product_id: int) -> None:
    conn.execute(
        "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, -1, 'system')",
        (product_id,),
    )


def _positions_of(db_url: str, product_id: int, after: int) -> list[int | None]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT id FROM inventory_events WHERE payload->>'product_id' = %s"
            " AND (id > %s OR id IS NULL) ORDER BY seq",
            (str(product_id), after),
        ).fetchall()
    return [r[0] for r in rows]


def _last_id(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT last_id FROM inventory_event_counter").fetchone()
    assert row is not None
    return int(row[0])


def test_deferred_writer_commits_without_a_position_until_the_positioner_runs(
    fresh_db: str,
) -> None:
    p = _product(fresh_db)
    base = _last_id(fresh_db)
    with _deferred(fresh_db) as conn:
        _sell(conn, p)
        conn.commit()
        assert _positions_of(fresh_db, p, base) == [None]
        assert _last_id(fresh_db) == base
        positioned, last, locked, _, _ = _position(conn)
    assert (positioned, last, locked) == (1, base + 1, True)
    assert _positions_of(fresh_db, p, base) == [base + 1]


def test_a_late_commit_gets_the_next_position_not_its_write_order(fresh_db: str) -> None:
    a, b = _product(fresh_db), _product(fresh_db)
    base = _last_id(fresh_db)
    early, late = _deferred(fresh_db), _deferred(fresh_db)
    try:
        _sell(late, a)  # written first, committed last
        _sell(early, b)
        early.commit()  # not blocked by `late`: no lock is shared until commit
        assert _position(early)[:3] == (1, base + 1, True)
        assert _positions_of(fresh_db, b, base) == [base + 1]
        late.commit()
        assert _position(late)[:3] == (1, base + 2, True)
        assert _positions_of(fresh_db, a, base) == [base + 2]
    finally:
        early.close()
        late.close()


def test_positioner_waits_a_bounded_time_behind_a_decision_0001_writer_and_reports_the_backlog(
    fresh_db: str,
) -> None:
    a, b = _product(fresh_db), _product(fresh_db)
    base = _last_id(fresh_db)
    holder = psycopg.connect(fresh_db)  # no setting: draws its id under the counter lock
    try:
        _sell(holder, a)
        with _deferred(fresh_db) as conn:
            _sell(conn, b)
            conn.commit()
            started = time.monotonic()
            positioned, last, locked, waiting, oldest = _position(conn, wait_ms=300)
            took = time.monotonic() - started
            assert (positioned, last, locked, waiting) == (0, base, False, 1)
            assert oldest is not None and oldest >= 0
            assert 0.25 <= took < 5
            # the non-waiting form (what the timer runs) skips at once
            assert _position(conn, wait_ms=0)[2] is False
            holder.commit()  # base+1 is the holder's, drawn under the lock
            assert _position(conn)[:3] == (1, base + 2, True)
        assert _positions_of(fresh_db, a, base) == [base + 1]
        assert _positions_of(fresh_db, b, base) == [base + 2]
    finally:
        holder.close()


def test_rolled_back_deferred_events_take_no_position(fresh_db: str) -> None:
    p = _product(fresh_db)
    base = _last_id(fresh_db)
    with _deferred(fresh_db) as conn:
        _sell(conn, p)
        conn.rollback()
        _sell(conn, p)
        conn.commit()
        assert _position(conn)[:2] == (1, base + 1)


def test_parallel_writers_and_positioners_give_a_dense_order_a_paging_reader_never_skips(
    fresh_db: str,
) -> None:
    products = [_product(fresh_db, 100_000) for _ in range(8)]
    base = _last_id(fresh_db)
    stop = threading.Event()
    written = [0] * len(products)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            with _deferred(fresh_db) as conn:
                while not stop.is_set():
                    for _ in range(rng.randint(1, 3)):  # 1-3 events per transaction
                        _sell(conn, products[n])
                        written[n] += 1
                    if rng.random() < 0.3:
                        time.sleep(rng.random() / 200)  # commit late, out of write order
                    conn.commit()
                    if rng.random() < 0.5:
                        _position(conn, wait_ms=2000)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen: list[int] = []
    written_all = threading.Event()

    def reader() -> None:
        # what the feed does: page by position, never look back
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            cursor = base
            while not written_all.is_set() or cursor < _last_id(fresh_db):
                rows = conn.execute(
                    "SELECT id FROM inventory_events WHERE id > %s ORDER BY id LIMIT 500",
                    (cursor,),
                ).fetchall()
                for (i,) in rows:
                    seen.append(i)
                    cursor = i
                if not rows:
                    with psycopg.connect(fresh_db, autocommit=True) as timer:
                        _position(timer, wait_ms=0)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(len(products))]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads[:-1]:
        t.join(30)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _position(conn)
    written_all.set()  # the reader stops once it has read up to the last position
    threads[-1].join(30)
    assert not errors
    total = sum(written)
    assert total > 100
    assert _last_id(fresh_db) == base + total
    assert seen == list(range(base + 1, base + total + 1))  # no gap, no duplicate, in order
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute("SELECT count(*) FROM inventory_events WHERE id IS NULL").fetchone()
        assert row is not None and row[0] == 0
        # one transaction's events arrive together, in write order
        split = conn.execute(
            "SELECT tx FROM inventory_events WHERE id > %s GROUP BY tx"
            " HAVING max(id) - min(id) + 1 <> count(*)"
            " OR array_agg(id ORDER BY seq) <> array_agg(id ORDER BY id)",
            (base,),
        ).fetchall()
    assert split == []


def _call_purchase(conn: psycopg.Connection[Any], product_id: int, wait_ms: int = 2000) -> Any:
    row = conn.execute(
        "CALL stockline_transactions_purchase_v2('kiosk:t', %s, '\\x00'::bytea, NULL,"
        " %s, ARRAY[1], %s)",
        (f"k{random.getrandbits(60)}", [product_id], wait_ms),
    ).fetchone()
    assert row is not None
    return row[0]


def test_a_lone_purchase_numbers_its_events_before_it_answers(fresh_db: str) -> None:
    p = _product(fresh_db)
    base = _last_id(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(DEFERRED)
        result = _call_purchase(conn, p)
    assert result["outcome"] == "created" and result["numbered"] is True
    assert _positions_of(fresh_db, p, base) == [base + 1]


def test_a_purchase_never_waits_on_a_held_counter_row_inside_its_transaction(
    fresh_db: str,
) -> None:
    a, b = _product(fresh_db), _product(fresh_db)
    base = _last_id(fresh_db)
    holder = psycopg.connect(fresh_db)  # decision-0001 writer holding the counter row
    try:
        _sell(holder, a)
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(DEFERRED)
            started = time.monotonic()
            result = _call_purchase(conn, b, wait_ms=300)
            assert time.monotonic() - started < 5
        assert result["outcome"] == "created" and result["numbered"] is False
        assert _positions_of(fresh_db, b, base) == [None]  # committed, waiting
        holder.commit()
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            _position(conn)
        assert _positions_of(fresh_db, a, base) == [base + 1]
        assert _positions_of(fresh_db, b, base) == [base + 2]
    finally:
        holder.close()


def test_parallel_purchases_numbering_inline_or_after_commit_stay_dense_and_ordered(
    fresh_db: str,
) -> None:
    products = [_product(fresh_db, 100_000) for _ in range(6)]
    base = _last_id(fresh_db)
    stop = threading.Event()
    bought = [0] * len(products)
    errors: list[BaseException] = []
    seen: list[int] = []

    def buyer(n: int) -> None:
        try:
            with psycopg.connect(fresh_db, autocommit=True) as conn:
                conn.execute(DEFERRED)
                while not stop.is_set():
                    # a wait far beyond any commit: CI on PostgreSQL 15 once ended one
                    # purchase short of the count, most likely a 2 s wait that ran out
                    # on a stalled disk. Each answer must now say it was numbered, so a
                    # repeat tells a timeout from a wrong answer.
                    result = _call_purchase(conn, products[n], wait_ms=15_000)
                    assert result["outcome"] == "created" and result["numbered"] is True
                    bought[n] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            cursor = base
            while not bought_all.is_set() or cursor < _last_id(fresh_db):
                rows = conn.execute(
                    "SELECT id FROM inventory_events WHERE id > %s ORDER BY id LIMIT 500",
                    (cursor,),
                ).fetchall()
                for (i,) in rows:
                    seen.append(i)
                    cursor = i

    bought_all = threading.Event()
    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(len(products))]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads[:-1]:
        t.join(30)
    bought_all.set()  # the reader stops once it has read up to the last position
    threads[-1].join(30)
    assert not errors
    total = sum(bought)
    assert total > 50
    assert _last_id(fresh_db) == base + total  # every purchase numbered before it answered
    assert seen == list(range(base + 1, base + total + 1))


def test_a_large_backlog_is_numbered_in_one_run_in_transaction_order(fresh_db: str) -> None:
    """A positioner that was away (every instance down, a held counter row) comes back to
    thousands of events. A join of the work list to the table, planned with statistics
    that say the list is empty, goes quadratic (measured: 4,839 events in 5 s; 20,000
    would take minutes while every caller waits). By row address the run is linear; the
    statement timeout leaves a margin of two orders of magnitude."""
    p = _product(fresh_db, stock=100_000)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("ANALYZE inventory_events")  # statistics taken with the list empty
    base = _last_id(fresh_db)
    with _deferred(fresh_db) as conn:
        for _ in range(40):  # 40 transactions of 500 events each
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source)"
                " SELECT %s, -1, 'system' FROM generate_series(1, 500)",
                (p,),
            )
            conn.commit()
        conn.execute("SET statement_timeout = '20s'")
        positioned, last_id, ran, _waiting, _oldest = _position(conn)
    assert ran is True
    assert positioned == 20_000
    assert last_id == base + 20_000
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            "SELECT id, tx FROM inventory_events WHERE id > %s ORDER BY id", (base,)
        ).fetchall()
    assert [r[0] for r in rows] == list(range(base + 1, base + 20_001))
    txs = [r[1] for r in rows]
    assert txs == sorted(txs)  # a transaction's events together, transactions in order


def test_the_numbering_reads_its_work_list_with_a_plain_index_scan(fresh_db: str) -> None:
    """A bitmap scan never marks the index entries of numbered rows dead, so each run
    walked every event written since the last VACUUM (11,418 entries and 596 heap pages to
    find 3 rows; a lone writer fell to a third of its purchases/s). The numbering function
    pins the plan that cleans up as it goes."""
    p = _product(fresh_db, stock=100_000)
    with _deferred(fresh_db) as conn:
        for _ in range(20):
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source)"
                " SELECT %s, -1, 'system' FROM generate_series(1, 100)",
                (p,),
            )
            conn.commit()
            _position(conn)
    with psycopg.connect(fresh_db) as conn:
        settings = conn.execute(
            "SELECT proconfig FROM pg_proc WHERE proname = %s",
            ("stockline_inventory_events_number_locked",),
        ).fetchone()
        assert settings is not None
        for name, value in (s.split("=", 1) for s in settings[0]):
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        conn.execute("ANALYZE inventory_events")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT array_agg(e.ctid ORDER BY e.tx, e.seq)"
                " FROM inventory_events e WHERE e.id IS NULL"
            ).fetchall()
        )
    assert "Bitmap" not in plan
    assert "inventory_events_unpositioned_work_idx" in plan


def _flush_statistics(conn: psycopg.Connection[Any]) -> None:
    """This backend's pending counters into the shared statistics (PostgreSQL 15+)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.commit()
    conn.execute("SELECT 1")  # idle once more: the flush happens
    conn.commit()
    time.sleep(0.3)


def _work_list_blocks(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT idx_blks_hit + idx_blks_read FROM pg_statio_user_indexes"
            " WHERE indexrelname = 'inventory_events_unpositioned_work_idx'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_run_skips_the_entries_of_events_numbered_before_it(fresh_db: str) -> None:
    """Numbered events leave dead entries in the work-list index until VACUUM, on pages
    no insert reclaims; a run reading from the start of the index walked them all (15-27
    ms a call at 180,000 events). Each run now starts at the floor its predecessor stored
    (migration 0022)."""
    p = _product(fresh_db, stock=100_000)
    with _deferred(fresh_db) as conn:
        for _ in range(20):  # 20,000 events, numbered: 20,000 dead entries
            conn.execute(
                "INSERT INTO inventory_ledger (product_id, delta, source)"
                " SELECT %s, -1, 'system' FROM generate_series(1, 1000)",
                (p,),
            )
            conn.commit()
        assert _position(conn)[0] == 20_000
        numbered_through = conn.execute("SELECT max(tx) FROM inventory_events").fetchone()
        conn.commit()
        assert numbered_through is not None
        # a run stores a floor above the 20,000: the oldest transaction still running in
        # the cluster. Any session's transaction open at that moment (autovacuum's
        # ANALYZE of the table just filled, another database's) holds it lower; the next
        # run after it ends stores the higher floor.
        deadline = time.monotonic() + 30
        while True:
            _sell(conn, p)
            conn.commit()
            assert _position(conn)[0] == 1
            row = conn.execute(  # xid8 arrives as text: compared in SQL
                "SELECT unpositioned_floor > %s::xid8 FROM inventory_event_counter",
                (numbered_through[0],),
            ).fetchone()
            conn.commit()
            assert row is not None
            if row[0] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert row[0], "the floor never rose above the numbered events"
        _flush_statistics(conn)
        before = _work_list_blocks(fresh_db)
        for _ in range(5):  # nothing to number: each reads a page or two, not a hundred
            assert _position(conn)[0] == 0
        _flush_statistics(conn)
        read = _work_list_blocks(fresh_db) - before
    assert read <= 5 * 3, read


def test_the_floor_waits_below_a_writer_that_is_still_open(fresh_db: str) -> None:
    p, q = _product(fresh_db), _product(fresh_db)
    base = _last_id(fresh_db)
    late = _deferred(fresh_db)
    try:
        _sell(late, q)  # written, not committed: its transaction holds the floor down
        with _deferred(fresh_db) as conn:
            for _ in range(3):
                _sell(conn, p)
                conn.commit()
                assert _position(conn)[0] == 1
        late.commit()
        with _deferred(fresh_db) as conn:
            assert _position(conn)[0] == 1  # the late event is above the floor, found
    finally:
        late.close()
    assert _last_id(fresh_db) == base + 4
    assert None not in _positions_of(fresh_db, p, base) + _positions_of(fresh_db, q, base)


def test_a_floor_from_another_cluster_is_ignored(fresh_db: str) -> None:
    """A restored counter row can carry a floor from a cluster whose transaction ids ran
    ahead of this one's: taken at its word, no event written here would ever be found."""
    p = _product(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SELECT * FROM stockline_inventory_events_position_v1(1000)")
        conn.execute("UPDATE inventory_event_counter SET unpositioned_floor = '999999999999'")
    base = _last_id(fresh_db)
    with _deferred(fresh_db) as conn:
        _sell(conn, p)
        conn.commit()
        assert _position(conn)[0] == 1
    assert _last_id(fresh_db) == base + 1
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            "SELECT unpositioned_floor::text FROM inventory_event_counter"
        ).fetchone()
    assert row is not None and int(row[0]) < 999999999999  # replaced by a true one


def test_a_floor_a_little_ahead_from_another_cluster_is_ignored_too(fresh_db: str) -> None:
    """A restored counter row whose floor is only a little above this cluster's ids: once
    this cluster's xmin passes it, a floor taken at its word would skip every event
    written below it here (migration 0024: a floor counts only in the row version that
    stored it)."""
    p = _product(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SELECT * FROM stockline_inventory_events_position_v1(1000)")
        # what a restore leaves: a floor from elsewhere, a few ids ahead of ours
        conn.execute(
            "UPDATE inventory_event_counter"
            " SET unpositioned_floor = (pg_current_xact_id()::text::bigint + 20)::text::xid8"
        )
    base = _last_id(fresh_db)
    with _deferred(fresh_db) as conn:
        _sell(conn, p)  # its tx is below the foreign floor
        conn.commit()
        for _ in range(40):  # this cluster's xmin moves past the foreign floor
            conn.execute("SELECT pg_current_xact_id()")
            conn.commit()
        assert _position(conn)[0] == 1
    assert _last_id(fresh_db) == base + 1
    assert None not in _positions_of(fresh_db, p, base)


def test_after_a_snapshot_numbers_the_next_run_stores_a_floor_again(fresh_db: str) -> None:
    p = _product(fresh_db)
    with _deferred(fresh_db) as conn:
        _sell(conn, p)
        conn.commit()
        assert _position(conn)[0] == 1  # stores a floor
        _sell(conn, p)
        conn.commit()
        # the snapshot event's statement numbers the write and rewrites the counter row
        conn.execute(load("events")["select_positioned_state"])
        conn.commit()
        assert conn.execute("SELECT stockline_inventory_events_floor()").fetchone() == ("0",)
        _sell(conn, p)
        conn.commit()
        assert _position(conn)[0] == 1
        row = conn.execute(
            "SELECT stockline_inventory_events_floor() = unpositioned_floor,"
            " unpositioned_floor > '0' FROM inventory_event_counter"
        ).fetchone()
    assert row == (True, True)
