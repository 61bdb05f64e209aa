-- A purchase numbers its own events inside its transaction when nobody else is numbering
-- (decision 0003, "one writer alone"): it then commits once instead of twice. When the
-- positioner lock or the counter row is taken, it does not wait for them (no deadlock
-- with a decision-0001 writer holding the counter row while it wants a product row this
-- purchase holds): it commits and numbers after COMMIT as before.
--
-- Holding the lock through its own COMMIT is what makes this safe: no other positioner
-- can commit positions meanwhile, and the next one starts after this commit is visible.
-- The numbering statement of migration 0011, shared by the positioner and the purchase
-- procedure below. Only for a caller that holds the positioner lock and has just taken
-- a fresh statement snapshot after it (READ COMMITTED, a statement of its own).
CREATE FUNCTION stockline_inventory_events_number_locked() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_total bigint;
BEGIN
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
    RETURN v_total;
END $$;

-- Rebuilt from 0011. A caller that finds another positioner running waits for it to end
-- and then checks that everything committed before the call has a position; if not (that
-- run started before the caller's COMMIT, or it gave up on the counter row), it tries
-- again, until p_wait_ms is spent. 0011 trusted a second run to have done it, which made
-- a run that gave up look like success.
CREATE OR REPLACE FUNCTION stockline_inventory_events_position_v1(p_wait_ms integer)
RETURNS TABLE (positioned bigint, last_id bigint, ran boolean,
               waiting bigint, oldest_seconds double precision)
LANGUAGE plpgsql AS $$
DECLARE
    v_timeout  text := current_setting('lock_timeout');
    v_since    timestamptz := clock_timestamp();  -- our caller's events were written before
    v_deadline timestamptz := clock_timestamp() + make_interval(secs => p_wait_ms / 1000.0);
    v_ran      boolean := false;
    v_total    bigint := 0;
BEGIN
    PERFORM set_config('lock_timeout', greatest(p_wait_ms, 1) || 'ms', true);
    BEGIN
        LOOP
            IF pg_try_advisory_xact_lock(stockline_inventory_events_lock_key()) THEN
                v_total := stockline_inventory_events_number_locked();
                v_ran := true;
                EXIT;
            END IF;
            EXIT WHEN p_wait_ms <= 0 OR clock_timestamp() >= v_deadline;
            -- another positioner runs: wait until it ends (a shared lock, granted to every
            -- waiter at once and dropped at once, so callers never queue one behind another)
            PERFORM pg_advisory_lock_shared(stockline_inventory_events_lock_key()),
                    pg_advisory_unlock_shared(stockline_inventory_events_lock_key());
            IF NOT EXISTS (SELECT 1 FROM inventory_events e
                            WHERE e.id IS NULL AND e.created_at <= v_since) THEN
                v_ran := true;  -- numbered by that run
                EXIT;
            END IF;
        END LOOP;
    EXCEPTION WHEN lock_not_available THEN
        v_ran := false;  -- the block's subtransaction undid this call's numbering
        v_total := 0;
    END;
    PERFORM set_config('lock_timeout', v_timeout, true);
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
