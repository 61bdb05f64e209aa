"""Kiosk purchases that arrive together share one statement and one COMMIT (issue 11).

A process keeps at most `in_flight` runners (2); each sends one purchase statement at a
time. Purchases that arrive while the runners are busy wait (the time the running
statement still needs: a millisecond or a few) and go together as a runner's next batch,
at most `max_batch` of them (STOCKLINE_PURCHASE_BATCH_MAX, 8), through
`stockline_transactions_purchase_batch_v2` (migrations 0028, 0029). A purchase that
finds a runner free never waits: it goes at once, as a batch of one. A runner whose
statement has taken longer than `stalled_after` (a row lock held elsewhere) stops
counting, so purchases of other products do not queue behind it; and a batch waits for
a lock at most 250 ms (the function's lock_timeout), then rolls back and its purchases
go alone, side by side.
`max_batch` 1 turns batching off: every purchase then runs alone and at once, through
the single statement (`ledger.purchase_as_kiosk`), as before this module.

The batch numbers its events in its own transaction when the positioner lock is free
(migration 0029) and tells its process's positioner so (`Numbering.mark` before the
statement is sent, `Numbering.settled` when it answers); otherwise, and for every
purchase that ran alone, a created purchase rings for a round (`Numbering.ring`), as
before.

Each purchase gets exactly what it would have got alone: its answer, its replay, its
409, its 404 or 422 with the same message, None for an unknown kiosk token. Invariants:

- a batch holds at most one purchase per (kiosk token, Idempotency-Key): a second one
  waits for the next batch, where it finds the first one's key (a replay or a 409);
- a batch is one transaction: it commits whole or not at all. When the database refuses
  it with an error (it rolled back: a guard, a value it cannot store, a deadlock retried
  in vain), every purchase of the batch runs again alone, and gets its own answer or
  its own error;
- when the connection fails instead, nobody knows whether the batch committed: every
  purchase of it gets that error (503, as alone), and nothing runs twice. A client that
  retries with its Idempotency-Key gets the first answer if there was one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from stockline import metrics
from stockline.db.queries import load
from stockline.errors import IdempotencyConflict, InvalidInput, NotFound
from stockline.inventory import ledger
from stockline.inventory.models import PurchaseLine

_Q = load("inventory")
Answer = tuple[dict[str, Any], bool] | None  # (answer, replayed); None: no such kiosk


class Numbering(Protocol):
    """The process's positioner, as a batch sees it (events/positions.py)."""

    def mark(self) -> int: ...
    def settled(self, mark: int, *, numbered: bool) -> None: ...
    def ring(self) -> None: ...


class _Unnumbered:
    """No positioner in this process: the events wait for whoever numbers them."""

    def mark(self) -> int:
        return 0

    def settled(self, mark: int, *, numbered: bool) -> None:
        pass

    def ring(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class KioskPurchase:
    token_hash: bytes
    lines: list[PurchaseLine]
    idempotency_key: str | None
    request_hash: bytes


@dataclass(slots=True)
class _Waiting:
    purchase: KioskPurchase
    answer: asyncio.Future[Answer]


class PurchaseBatcher:
    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        max_batch: int = 8,
        in_flight: int = 2,
        stalled_after: float = 0.05,
        numbering: Numbering | None = None,
    ) -> None:
        self._pool = pool
        self._numbering: Numbering = numbering or _Unnumbered()
        self._max = max(1, max_batch)
        self._in_flight = max(1, in_flight)
        self._stalled_after = stalled_after
        self._waiting: list[_Waiting] = []
        self._running = 0  # runners: each sends one batch at a time while any wait
        self._busy_since: dict[int, float] = {}  # runner -> when its statement started
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def purchase(self, purchase: KioskPurchase) -> Answer:
        """The purchase's answer, as `ledger.purchase_as_kiosk` gives it alone."""
        if self._max == 1:  # batching off: every purchase alone, at once
            found = await _by_itself(self._pool, purchase)
            if found is not None and not found[1]:
                self._numbering.ring()
            return found
        loop = asyncio.get_running_loop()
        waiting = _Waiting(purchase, loop.create_future())
        # read by the request, or by this callback once its request is gone (no warning
        # about an exception nobody retrieved)
        waiting.answer.add_done_callback(_retrieved)
        self._waiting.append(waiting)
        self._kick()
        # the purchase goes on if its request is cancelled (a client gone): it may be in
        # a batch already, and its batch companions wait for the same statement
        return await asyncio.shield(waiting.answer)

    def _kick(self) -> None:
        """Start a runner if a slot is free; else look again once the busy ones may
        count as stalled (purchases queued behind a stalled runner do not wait for the
        next arrival to be noticed)."""
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        if self._running - self._stalled(loop.time()) < self._in_flight:
            self._running += 1
            task = loop.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif self._timer is None:
            self._timer = loop.call_later(self._stalled_after, self._look_again)

    def _look_again(self) -> None:
        self._timer = None
        self._kick()

    def _stalled(self, now: float) -> int:
        """Runners whose statement has taken longer than `stalled_after` (a row lock
        held elsewhere, a slow disk): they do not count against `in_flight`, so
        purchases of other products do not wait behind them."""
        return sum(1 for since in self._busy_since.values() if now - since > self._stalled_after)

    async def close(self) -> None:
        """Wait for the batches in flight (they answer requests still being served)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        me = id(asyncio.current_task())
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = self._take()
                self._busy_since[me] = loop.time()
                try:
                    metrics.PURCHASE_BATCH_SIZE.observe(len(batch))
                    await _together(self._pool, batch, self._numbering)
                except Exception as exc:  # never leave a request waiting
                    for w in batch:
                        if not w.answer.done():
                            w.answer.set_exception(exc)
                except BaseException:
                    for w in batch:
                        w.answer.cancel()
                    raise
                finally:
                    del self._busy_since[me]
        finally:
            # no await between the loop's last look at the queue and this: a purchase
            # queued after it finds a free slot and starts a runner of its own
            self._running -= 1

    def _take(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        keys: set[tuple[bytes, str]] = set()
        rest: list[_Waiting] = []
        for w in self._waiting:
            key = w.purchase.idempotency_key
            mine = None if key is None else (w.purchase.token_hash, key)
            if len(batch) >= self._max or (mine is not None and mine in keys):
                rest.append(w)  # the next batch: it will find this key's first answer
                continue
            if mine is not None:
                keys.add(mine)
            batch.append(w)
        self._waiting = rest
        return batch


def _retrieved(answer: asyncio.Future[Answer]) -> None:
    if not answer.cancelled():
        answer.exception()


async def _by_itself(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], p: KioskPurchase
) -> Answer:
    async with pool.connection() as conn:
        return await ledger.purchase_as_kiosk(
            conn,
            token_hash=p.token_hash,
            lines=p.lines,
            idempotency_key=p.idempotency_key,
            request_hash=p.request_hash,
        )


async def _alone(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], w: _Waiting, numbering: Numbering
) -> None:
    try:
        found = await _by_itself(pool, w.purchase)
    except Exception as exc:
        w.answer.set_exception(exc)
    else:
        if found is not None and not found[1]:
            numbering.ring()
        w.answer.set_result(found)


async def _together(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    batch: list[_Waiting],
    numbering: Numbering,
) -> None:
    params = _params(batch)
    mark = numbering.mark()  # before the statement is sent: its commits come before it
    numbered = False  # null (nothing bought) counts as not: it covers nobody's commit
    try:
        async with pool.connection() as conn:
            try:
                cur = await ledger.retry_transient(
                    lambda: conn.execute(_Q["insert_purchase_batch"], params)
                )
                row = await cur.fetchone()
            except psycopg.Error as exc:
                if exc.sqlstate is None or conn.broken:
                    raise  # the batch may or may not have committed: nothing runs twice
                refused = True  # the database refused it and rolled it back
            else:
                refused = False
                numbered = row is not None and row["result"]["numbered"] is True
    finally:
        numbering.settled(mark, numbered=numbered)
    if refused:
        # each alone, each with its own answer or error, side by side: one still waiting
        # for its product's lock does not hold up the others
        await asyncio.gather(*(_alone(pool, w, numbering) for w in batch))
        return
    assert row is not None
    outcomes = row["result"]["outcomes"]
    if not numbered and any(o["outcome"] == "created" for o in outcomes):
        numbering.ring()
    for w, outcome in zip(batch, outcomes, strict=True):
        _settle(w.answer, outcome)


def _params(batch: list[_Waiting]) -> dict[str, Any]:
    owners: list[int] = []
    products: list[int] = []
    quantities: list[int] = []
    for n, line in _lines(batch):
        owners.append(n)
        products.append(line.product_id)
        quantities.append(line.quantity)
    return {
        "token_hashes": [w.purchase.token_hash for w in batch],
        "keys": [w.purchase.idempotency_key for w in batch],
        "hashes": [w.purchase.request_hash for w in batch],
        "owners": owners,
        "product_ids": products,
        "quantities": quantities,
    }


def _lines(batch: list[_Waiting]) -> Iterator[tuple[int, PurchaseLine]]:
    for n, w in enumerate(batch, start=1):
        for line in w.purchase.lines:
            yield n, line


def _settle(answer: asyncio.Future[Answer], outcome: dict[str, Any]) -> None:
    kind = outcome["outcome"]
    if kind == "created":
        answer.set_result((outcome["answer"], False))
    elif kind == "replay":
        answer.set_result((outcome["answer"], True))
    elif kind == "unauthenticated":
        answer.set_result(None)
    elif kind == "conflict":
        answer.set_exception(IdempotencyConflict())
    elif outcome.get("sqlstate") == "SL404":
        answer.set_exception(NotFound(outcome["message"]))
    else:
        answer.set_exception(InvalidInput(outcome["message"]))
