-- The positioner back to migration 0011's body.
--
-- Migration 0017 made a waiting positioner loop until everything committed before it had
-- a position. Measured in the same bench run (docs/benchmarks.md), that collapsed under
-- contention: at 32 writers 46 purchases/s against 182 for decision 0001's counter row,
-- where 0011's body had measured 321 against 118: callers looped on one another's
-- batches. The function below is 0011's, unchanged. 0017's purchase procedure (a lone
-- purchase numbers its events inside its own transaction when the lock and the counter
-- row are free) is kept: measured with 0011's positioner, it did not hurt at 8 and 32
-- writers and one writer gained. It is repeated here so this file is the whole state.

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
            -- after that COMMIT, so waiting for it to end is enough. Callers never queue
            -- one behind the other, and each batch takes in whatever committed meanwhile.
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
            WITH todo AS (
                SELECT e.seq, row_number() OVER (ORDER BY e.tx, e.seq) AS n
                  FROM inventory_events e WHERE e.id IS NULL
            ), moved AS (
                UPDATE inventory_event_counter c
                   SET last_id = c.last_id + (SELECT count(*) FROM todo)
                 WHERE EXISTS (SELECT 1 FROM todo)
                RETURNING c.last_id
            ), numbered AS (
                UPDATE inventory_events e
                   SET id = m.last_id - (SELECT count(*) FROM todo) + t.n
                  FROM todo t, moved m
                 WHERE e.seq = t.seq AND e.id IS NULL
                RETURNING 1
            )
            SELECT count(*) INTO v_total FROM numbered;
        END IF;
    EXCEPTION WHEN lock_not_available THEN
        v_ran := false;  -- the block's subtransaction undid this call's batches
        v_total := 0;
    END;
    PERFORM set_config('lock_timeout', v_timeout, true);
    v_ran := v_ran OR v_covered;
    IF v_total > 0 THEN
        -- one doorbell for the whole batch: NOTIFY serialises commits cluster-wide, so
        -- these writers ring nothing and the positioner rings once per batch
        PERFORM pg_notify('inventory_events', '');
    END IF;
    RETURN QUERY
        SELECT v_total, (SELECT c.last_id FROM inventory_event_counter c),
               v_ran, count(*), extract(epoch FROM now() - min(e.created_at))::float8
          FROM inventory_events e WHERE e.id IS NULL AND NOT v_ran;
END $$;

CREATE OR REPLACE PROCEDURE stockline_transactions_purchase_v2(
    p_scope text, p_key text, p_hash bytea, p_kiosk_id bigint,
    p_product_ids bigint[], p_quantities integer[], p_wait_ms integer,
    INOUT result jsonb DEFAULT NULL
) LANGUAGE plpgsql AS $$
DECLARE
    v_inline boolean := false;
    v_total  bigint;
BEGIN
    result := stockline_transactions_purchase_v1(p_scope, p_key, p_hash, p_kiosk_id,
                                                 p_product_ids, p_quantities);
    IF result->>'outcome' = 'created'
       AND pg_try_advisory_xact_lock(stockline_inventory_events_lock_key()) THEN
        PERFORM 1 FROM inventory_event_counter FOR NO KEY UPDATE SKIP LOCKED;
        v_inline := FOUND;
    END IF;
    IF v_inline THEN
        -- a statement of its own, so its snapshot is taken with both locks held
        v_total := stockline_inventory_events_number_locked();
        IF v_total > 0 THEN
            PERFORM pg_notify('inventory_events', '');
        END IF;
        result := result || jsonb_build_object('numbered', true);
    END IF;
    COMMIT;
    IF result->>'outcome' = 'created' AND NOT v_inline THEN
        BEGIN
            result := result || jsonb_build_object('numbered',
                (SELECT ran FROM stockline_inventory_events_position_v1(p_wait_ms)));
        EXCEPTION WHEN OTHERS THEN
            result := result || jsonb_build_object('numbered', false);
        END;
    END IF;
END $$;
