"""The fencing check right before each send (SPEC §7.1), on the real database.

A claim is sent only while its lease token matches, its lease is valid and the
sender's leadership term is current with its lock session alive. A claim refused for
a lost term goes back untouched (no attempt, no lease_expired later); a claim another
sender took over after its lease ran out is left alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stockline.alerts import notifications as n
from stockline.alerts.leader import LeaderElection
from stockline.config import Settings
from tests.fixtures.aio import run


async def _leading(db_url: str, instance_id: str) -> tuple[LeaderElection, asyncio.Task[None]]:
    settings = Settings(
        DATABASE_URL=db_url, STOCKLINE_LEADER_RETRY_SECONDS=0.2, STOCKLINE_INSTANCE_ID=instance_id
    )
    leader = LeaderElection(settings)
    task = asyncio.create_task(leader.run())
    async with asyncio.timeout(10):
        while not leader.leading:
            await asyncio.sleep(0.05)
    return leader, task


async def _stop(leader: LeaderElection, task: asyncio.Task[None]) -> None:
    await leader.release()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _breach(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute(
        "INSERT INTO products (sku, name, price_cents, low_stock_threshold)"
        " VALUES ('SKU-' || md5(random()::text), 'Fenced', 100, 1) RETURNING id"
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        "INSERT INTO inventory_ledger (product_id, delta, source) VALUES (%s, 1, 'system')",
        (row["id"],),
    )
    cur = await conn.execute(
        "SELECT id FROM email_notification_log WHERE product_id = %s", (row["id"],)
    )
    found = await cur.fetchone()
    assert found is not None
    return int(found["id"])


async def _row(conn: psycopg.AsyncConnection[Any], notification_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT status, attempt_count, lease_token,"
        " (SELECT count(*) FROM email_notification_attempts a WHERE a.notification_id = n.id)"
        " AS attempts FROM email_notification_log n WHERE id = %s",
        (notification_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


def test_a_leader_whose_lock_session_ended_sends_nothing_and_hands_its_claim_back(
    fresh_db: str,
) -> None:
    async def scenario() -> None:
        leader, task = await _leading(fresh_db, "fence-a")
        try:
            term = leader.term()
            assert term is not None
            async with await psycopg.AsyncConnection.connect(
                fresh_db, autocommit=True, row_factory=dict_row
            ) as conn:
                note = await _breach(conn)
                (claimed,) = await n.claim_due(
                    conn, limit=5, lease_seconds=30, instance_id="fence-a", term=term
                )
                assert claimed.id == note
                assert await n.renew_lease_before_send(conn, claimed, lease_seconds=30, term=term)

                # pg_terminate_backend only signals; with a timeout it waits until the
                # backend has exited (PostgreSQL 14+), so its lock is gone from pg_locks
                cur = await conn.execute(
                    "SELECT pg_terminate_backend(backend_pid, 5000) AS gone"
                    " FROM notification_worker_leader"
                )
                assert (await cur.fetchone()) == {"gone": True}
                # the session is gone from pg_locks, whatever the process believes
                assert not await n.renew_lease_before_send(
                    conn, claimed, lease_seconds=30, term=term
                )
                assert await n.hand_back(conn, claimed)
                row = await _row(conn, note)
                assert row == {
                    "status": "pending",
                    "attempt_count": 0,
                    "lease_token": None,
                    "attempts": 0,
                }
                # and the ended term claims nothing more
                assert (
                    await n.claim_due(
                        conn, limit=5, lease_seconds=30, instance_id="fence-a", term=term
                    )
                    == []
                )
        finally:
            await _stop(leader, task)

    run(scenario())


def test_a_claim_taken_over_after_its_lease_ran_out_is_neither_sent_nor_recorded_by_the_first(
    fresh_db: str,
) -> None:
    async def scenario() -> None:
        leader, task = await _leading(fresh_db, "fence-b")
        try:
            term = leader.term()
            assert term is not None
            async with await psycopg.AsyncConnection.connect(
                fresh_db, autocommit=True, row_factory=dict_row
            ) as conn:
                note = await _breach(conn)
                (first,) = await n.claim_due(
                    conn, limit=5, lease_seconds=0.2, instance_id="fence-b", term=term
                )
                await asyncio.sleep(0.4)  # the first sender's lease runs out
                (second,) = await n.claim_due(
                    conn, limit=5, lease_seconds=30, instance_id="fence-b2", term=term
                )
                assert second.id == first.id == note and second.lease_token != first.lease_token
                assert not await n.renew_lease_before_send(conn, first, lease_seconds=30, term=term)
                assert not await n.hand_back(conn, first)  # not ours to give back
                outcome = n.Outcome("sent", 250, "OK")
                step = n.next_step(outcome, first.attempt_count, 0, [1.0])
                assert not await n.record_outcome(
                    conn, first, {n.EMAIL: outcome}, step, {}, instance_id="x"
                )
                assert await n.renew_lease_before_send(conn, second, lease_seconds=30, term=term)
                row = await _row(conn, note)
                assert row["status"] == "sending" and row["lease_token"] == second.lease_token
        finally:
            await _stop(leader, task)

    run(scenario())
