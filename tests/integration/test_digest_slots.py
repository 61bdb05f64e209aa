"""The stored digest slots (SPEC §7.4) on the real database: what PUT writes, what the
breach trigger picks, and the leader's top-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from stockline.alerts import digest_store
from stockline.alerts.digest import DigestConfig, upcoming_slots
from tests.fixtures.aio import run

BERLIN = DigestConfig(True, ("08:00", "17:30"), "Europe/Berlin")


async def _slots(conn: psycopg.AsyncConnection[dict[str, object]]) -> list[datetime]:
    cur = await conn.execute("SELECT at FROM notification_digest_slots ORDER BY at")
    return [r["at"] for r in await cur.fetchall()]  # type: ignore[misc]


def test_a_schedule_is_stored_as_the_instants_the_pure_function_computes(fresh_db: str) -> None:
    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(
            fresh_db, autocommit=True, row_factory=dict_row
        ) as conn:
            now = datetime.now(UTC)
            async with conn.transaction():
                await digest_store.apply_schedule(conn, BERLIN, now)
            assert await _slots(conn) == upcoming_slots(BERLIN, now)
            async with conn.transaction():
                await digest_store.apply_schedule(conn, DigestConfig(False, (), "UTC"), now)
            assert await _slots(conn) == []

    run(scenario())


def test_the_leader_tops_up_slots_when_they_run_short_and_drops_old_ones(fresh_db: str) -> None:
    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(
            fresh_db, autocommit=True, row_factory=dict_row
        ) as conn:
            now = datetime.now(UTC)
            await conn.execute(
                "INSERT INTO notification_digest_slots (at) VALUES (%s), (%s)",
                (now - timedelta(days=3), now + timedelta(days=1)),
            )
            assert await digest_store.top_up(conn, BERLIN, now) is True
            slots = await _slots(conn)
            assert slots[0] > now - timedelta(days=1)  # the old one is gone
            assert slots[-1] > now + timedelta(days=13)
            # far enough ahead now: nothing more to write
            assert await digest_store.top_up(conn, BERLIN, now) is False

    run(scenario())
