-- Event positions assigned after commit (docs/decisions/0003-event-positions-after-commit.md).
--
-- Until now every event drew its id under the inventory_event_counter row lock and kept
-- it until COMMIT, so every event-emitting transaction of the cluster committed one at a
-- time (decision 0001). Now a writer that says so (the service sets
-- stockline.event_positions = 'after_commit' on its connections) inserts its events
-- without a position; a short positioner transaction, run by whichever process takes the
-- counter row, numbers every committed, unpositioned row in one statement. Readers page
-- by position exactly as before (`id > n ORDER BY id`): positions become visible in
-- position order because only the holder of the counter row assigns them, and each holder
-- starts its numbering statement after the previous holder committed.
--
-- Writers that do not set the setting (psql, an instance of the previous release during a
-- rolling restart) keep decision 0001's behaviour: their id is drawn under the same
-- counter row lock, so both kinds interleave without a gap or a duplicate.

-- `id` is the stream position (what SSE sends as `id:`); NULL until positioned. `seq`
-- orders a transaction's own events and finds the unpositioned ones; `tx` keeps one
-- transaction's events together in a batch (docs/events.md promises they arrive together).
ALTER TABLE inventory_events ADD COLUMN seq bigint;
ALTER TABLE inventory_events ADD COLUMN tx xid8;
ALTER TABLE inventory_events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE SEQUENCE inventory_events_seq_seq OWNED BY inventory_events.seq;
ALTER TABLE inventory_events ALTER COLUMN seq SET DEFAULT nextval('inventory_events_seq_seq');
CREATE UNIQUE INDEX inventory_events_position_key ON inventory_events (id);
ALTER TABLE inventory_events DROP CONSTRAINT inventory_events_pkey;
ALTER TABLE inventory_events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE inventory_events ADD CONSTRAINT inventory_events_position_or_seq
    CHECK (id IS NOT NULL OR seq IS NOT NULL);
-- the positioner's work list; empty between positioner runs
CREATE INDEX inventory_events_unpositioned_idx ON inventory_events (seq) WHERE id IS NULL;

CREATE OR REPLACE FUNCTION stockline_inventory_events_emit(p_type text, p_payload jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF current_setting('stockline.event_positions', true) = 'after_commit' THEN
        -- no lock, no doorbell: the positioner numbers the row after COMMIT and rings
        -- once for everything it numbered
        INSERT INTO inventory_events (type, payload) VALUES (p_type, p_payload);
        RETURN NULL;
    END IF;
    -- decision 0001: the id is drawn under the counter row lock, held until commit
    UPDATE inventory_event_counter SET last_id = last_id + 1 RETURNING last_id INTO v_id;
    INSERT INTO inventory_events (id, type, payload) VALUES (v_id, p_type, p_payload);
    PERFORM pg_notify('inventory_events', '');
    RETURN v_id;
END $$;

-- Positioners (the processes that number events) take this transaction-level advisory
-- lock, one at a time. It assigns no transaction id, so a run that finds nothing to
-- number writes nothing and costs no WAL flush.
CREATE FUNCTION stockline_inventory_events_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 5707401903316103::bigint $$;

-- Number every committed, unpositioned event, a transaction's events together and in
-- write order, and ring the doorbell
-- once if any. Returns how many it numbered, the newest position, whether it got to run
-- (false: the wait for another positioner or for a decision-0001 writer holding the
-- counter row exceeded p_wait_ms) and, when it did not, how many committed events wait
-- and the age of the oldest: the hold-back that /healthz and a metric show.
--
-- Call it as a statement of its own in a READ COMMITTED transaction. The numbering
-- statement starts after the advisory lock is held, so its snapshot sees every position
-- the holders before committed. The counter row is updated first and the positions are
-- derived from its new value: a decision-0001 writer that held the row commits first and
-- its id comes before this batch.
CREATE FUNCTION stockline_inventory_events_position_v1(p_wait_ms integer)
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

-- A purchase and the numbering of its events in one round trip: the purchase commits
-- first (its own transaction, exactly stockline_transactions_purchase_v1), then its
-- events are numbered, so the answer is sent once they are in the stream. Called with
-- CALL outside a transaction block (the service's connections are autocommit).
-- `p_wait_ms` bounds the wait for the counter row; on a timeout the purchase stands,
-- `result.numbered` is false and the positioner timer numbers the events later.
CREATE PROCEDURE stockline_transactions_purchase_v2(
    p_scope text, p_key text, p_hash bytea, p_kiosk_id bigint,
    p_product_ids bigint[], p_quantities integer[], p_wait_ms integer,
    INOUT result jsonb DEFAULT NULL
) LANGUAGE plpgsql AS $$
BEGIN
    result := stockline_transactions_purchase_v1(p_scope, p_key, p_hash, p_kiosk_id,
                                                 p_product_ids, p_quantities);
    COMMIT;
    IF result->>'outcome' = 'created' THEN
        result := result || jsonb_build_object('numbered',
            (SELECT ran FROM stockline_inventory_events_position_v1(p_wait_ms)));
    END IF;
END $$;
