-- The positioner's work list is read from a floor, not from the start of its index.
--
-- Migration 0019's partial index (tx, seq) WHERE id IS NULL keeps one entry per event
-- until VACUUM: numbering an event makes its entry dead, and a plain index scan marks it
-- so, but still reads the leaf pages that hold it. New entries go to the right end (tx
-- grows), so the dead pages on the left are never reclaimed by inserts, and every run,
-- even one with nothing to number, walked all of them from the left: 15-27 ms a call at
-- 180,000 events since the last VACUUM (measured with psql on a bench database), and
-- autovacuum waits for a fifth of the table to change.
--
-- The floor: when a run numbers what its snapshot S shows committed, every transaction
-- below pg_snapshot_xmin(S) had ended before S, so its events are now numbered (or it
-- rolled back); what is still unpositioned belongs to transactions >= that xmin. The run
-- stores it in the counter row (the row it updates anyway, so in the same commit), and
-- the next run scans its index from there: the dead region is skipped, whatever its size.
-- - Safe by construction: the floor only moves in a run that numbered everything below
--   it, in the same transaction. A lower floor than necessary only costs time.
-- - A floor above the current snapshot's xmin cannot be right (the counter row came from
--   another cluster, e.g. a restore): it is ignored, and the next run stores a new one.
-- - A long transaction anywhere on the cluster holds the xmin, so the floor, back: the
--   scan then walks the dead entries since it began (slower, never wrong).
-- - The snapshot event (events.sql select_positioned_state) numbers without moving it.
ALTER TABLE inventory_event_counter ADD COLUMN unpositioned_floor xid8 NOT NULL DEFAULT '0';

CREATE FUNCTION stockline_inventory_events_floor() RETURNS xid8
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.unpositioned_floor <= pg_snapshot_xmin(pg_current_snapshot())
                THEN c.unpositioned_floor ELSE '0'::xid8 END
      FROM inventory_event_counter c
$$;

CREATE OR REPLACE FUNCTION stockline_inventory_events_number_locked() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_rows  tid[];
    v_xmin  xid8;
    v_total bigint;
    v_base  bigint;
BEGIN
    -- The work list, in batch order (a transaction's events together, in write order),
    -- from the floor up. Its own statement, so its snapshot is taken with the positioner
    -- lock held; the same snapshot's xmin becomes the next floor.
    SELECT array_agg(e.ctid ORDER BY e.tx, e.seq), pg_snapshot_xmin(pg_current_snapshot())
      INTO v_rows, v_xmin
      FROM inventory_events e
     WHERE e.id IS NULL AND e.tx >= stockline_inventory_events_floor();
    v_total := coalesce(cardinality(v_rows), 0);
    IF v_total = 0 THEN
        RETURN 0;  -- writes nothing (no WAL flush); the floor moves with the next batch
    END IF;
    -- The counter row first: a decision-0001 writer holding it commits before us and its
    -- id comes before this batch (the UPDATE reads the row's newest version).
    UPDATE inventory_event_counter
       SET last_id = last_id + v_total, unpositioned_floor = v_xmin
    RETURNING last_id - v_total INTO v_base;
    -- By row address, not by a join (migration 0019 says why).
    UPDATE inventory_events e SET id = v_base + u.n
      FROM unnest(v_rows) WITH ORDINALITY AS u(row_address, n)
     WHERE e.ctid = u.row_address;
    RETURN v_total;
END $$;
ALTER FUNCTION stockline_inventory_events_number_locked()
    SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;

-- 0019's positioner; its backlog count (when it could not run) reads from the floor too.
CREATE OR REPLACE FUNCTION stockline_inventory_events_position_v1(p_wait_ms integer)
RETURNS TABLE (positioned bigint, last_id bigint, ran boolean,
               waiting bigint, oldest_seconds double precision)
LANGUAGE plpgsql AS $$
DECLARE
    v_timeout text := current_setting('lock_timeout');
    v_ran     boolean;
    v_covered boolean := false;  -- numbered by a run that started after our caller's COMMIT
    v_total   bigint := 0;
BEGIN
    PERFORM set_config('lock_timeout', greatest(p_wait_ms, 1) || 'ms', true);
    BEGIN
        v_ran := pg_try_advisory_xact_lock(stockline_inventory_events_lock_key());
        IF NOT v_ran AND p_wait_ms > 0 THEN
            -- Another positioner runs; its snapshot may predate our caller's COMMIT. Wait
            -- until it ends (a shared lock, granted to every waiter at once and dropped at
            -- once), then number ourselves; if yet another one got in first, it started
            -- after that COMMIT, so waiting for it to end is enough.
            PERFORM pg_advisory_lock_shared(stockline_inventory_events_lock_key()),
                    pg_advisory_unlock_shared(stockline_inventory_events_lock_key());
            v_ran := pg_try_advisory_xact_lock(stockline_inventory_events_lock_key());
            IF NOT v_ran THEN
                PERFORM pg_advisory_lock_shared(stockline_inventory_events_lock_key()),
                        pg_advisory_unlock_shared(stockline_inventory_events_lock_key());
                v_covered := true;
            END IF;
        END IF;
        IF v_ran THEN
            -- a statement of its own, so its snapshot is taken with the lock held
            v_total := stockline_inventory_events_number_locked();
        END IF;
    EXCEPTION WHEN lock_not_available THEN
        v_ran := false;  -- the block's subtransaction undid this call's batches
        v_total := 0;
    END;
    PERFORM set_config('lock_timeout', v_timeout, true);
    v_ran := v_ran OR v_covered;
    IF v_total > 0 THEN
        -- one doorbell for the whole batch
        PERFORM pg_notify('inventory_events', '');
    END IF;
    RETURN QUERY
        SELECT v_total, (SELECT c.last_id FROM inventory_event_counter c),
               v_ran, count(*), extract(epoch FROM now() - min(e.created_at))::float8
          FROM inventory_events e
         WHERE e.id IS NULL AND e.tx >= stockline_inventory_events_floor() AND NOT v_ran;
END $$;
