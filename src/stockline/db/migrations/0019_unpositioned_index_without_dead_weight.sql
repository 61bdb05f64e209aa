-- The positioner's work list stops growing with the stream (decision 0003, "Measured").
--
-- Until now every event was inserted with id NULL into the unique index on id, and the
-- positioner found its work through `id IS NULL`. The planner used that unique index
-- (NULLs are indexed), as a bitmap scan; every numbered row leaves its NULL entry behind
-- until VACUUM, and a bitmap scan never marks an entry dead. So each numbering visited
-- every event written since the last VACUUM: 10,572 index entries and 544 heap pages to
-- find 3 rows in a 10,000-event database, and a lone writer fell to a fifth of the purchases/s
-- of decision 0001 (measured in bench/purchases; docs/benchmarks.md).
--
-- Now:
-- - the unique index on id holds positioned rows only (`WHERE id IS NOT NULL`); readers'
--   `id > n ORDER BY id` still use it (a strict comparison implies NOT NULL);
-- - the work list is a partial index on (tx, seq), the batch's own order, read with a
--   plain index scan (the numbering function turns bitmap scans off): it marks the
--   entries of rows numbered earlier dead as it passes them, so the next scan skips them;
-- - the numbering reads its work list once and updates the rows by address (a TID scan
--   per row). A join of the work list to the table is at the planner's mercy: its
--   estimate of the list swings between 0 and thousands of rows, and a nested loop it
--   thought tiny went quadratic (measured on a first version of this migration: 4,839
--   events took 5 s, 23 million rows through the join filter).
-- Behaviour is unchanged: same positions, same order, same guarantees.

CREATE INDEX inventory_events_unpositioned_work_idx ON inventory_events (tx, seq)
    WHERE id IS NULL;
DROP INDEX inventory_events_unpositioned_idx;
CREATE UNIQUE INDEX inventory_events_positioned_key ON inventory_events (id)
    WHERE id IS NOT NULL;
DROP INDEX inventory_events_position_key;
ALTER INDEX inventory_events_positioned_key RENAME TO inventory_events_position_key;

CREATE OR REPLACE FUNCTION stockline_inventory_events_number_locked() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_rows  tid[];
    v_total bigint;
    v_base  bigint;
BEGIN
    -- The work list, in batch order (a transaction's events together, in write order).
    -- Its own statement, so its snapshot is taken with the positioner lock held.
    SELECT array_agg(e.ctid ORDER BY e.tx, e.seq) INTO v_rows
      FROM inventory_events e WHERE e.id IS NULL;
    v_total := coalesce(cardinality(v_rows), 0);
    IF v_total = 0 THEN
        RETURN 0;
    END IF;
    -- The counter row first: a decision-0001 writer holding it commits before us and its
    -- id comes before this batch (the UPDATE reads the row's newest version).
    UPDATE inventory_event_counter SET last_id = last_id + v_total
    RETURNING last_id - v_total INTO v_base;
    -- By row address, not by a join on (tx, seq): the planner's estimate of the work list
    -- swings between 0 and thousands of rows, and a join it thought tiny went quadratic
    -- (4,839 rows: 23 million join-filter rows, 5 s; by address: a TID scan per row).
    -- The addresses stay valid: only a positioner updates events, and this one holds the
    -- lock; the table lock of the SELECT above keeps VACUUM FULL and CLUSTER away. (No
    -- `id IS NULL` here: with it the planner drove the loop from the partial index.)
    UPDATE inventory_events e SET id = v_base + u.n
      FROM unnest(v_rows) WITH ORDINALITY AS u(row_address, n)
     WHERE e.ctid = u.row_address;
    RETURN v_total;
END $$;
-- Plain index scans only: a bitmap scan never marks the entries of numbered rows dead,
-- so the next one walks them again (11,418 dead entries and 596 heap pages to find 3 rows
-- while autovacuum had not yet run); an index scan marks them as it passes. And a TID
-- scan per row for the update: a hash join would read the whole table.
ALTER FUNCTION stockline_inventory_events_number_locked()
    SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;

-- 0018's positioner (0011's body), now numbering through the shared statement above.
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
          FROM inventory_events e WHERE e.id IS NULL AND NOT v_ran;
END $$;
