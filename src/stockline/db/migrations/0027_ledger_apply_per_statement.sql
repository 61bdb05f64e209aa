-- The ledger trigger runs once per INSERT statement, not once per row (issue 11).
--
-- A 3-line purchase inserts its 3 ledger rows in one statement, and the row trigger then
-- ran 4 statements for each row: UPDATE products, SELECT the snapshot FOR UPDATE, UPDATE
-- the snapshot, INSERT the event. Every one of them builds a fresh executor, and an
-- executor re-reads from their stored text every CHECK constraint of the table it writes
-- (products has six) and every trigger WHEN clause it may fire (the guards of 0025):
-- perf on one backend running purchases put ExecConstraints at 10 % and TriggerEnabled
-- at 6 % of its CPU, stringToNode alone at 11 %, executor start-up at 13 %.
--
-- Now the trigger is FOR EACH STATEMENT with a transition table, and
-- - with events positioned after commit (the service's connections, decision 0003) it
--   locks the statement's products in id order (a purchase holds them already), then
--   checks in one statement whether any row would move a flag (low_stock_flag or
--   negative_flag) from where it is. When none would (the common case), one statement
--   updates each product and its snapshot once and writes every row's stock-updated
--   event, in row order, with the stock after that row: the same rows, values and event
--   payloads as the row trigger wrote, in the same order;
-- - otherwise (a flag moves: breach, re-arm, negative stock; or events are numbered by
--   the counter row, decision 0001) it applies the rows one at a time, in id order, with
--   stockline_inventory_ledger_apply_one: 0025's row trigger body, unchanged.
-- Lock order stays products (in id order, where the row trigger took them in row order,
-- which for a purchase was the same), then their snapshot rows.
-- S-1 holds at the statement's end either way, as it did: AFTER ROW triggers also ran
-- at the end of the statement.

CREATE FUNCTION stockline_inventory_ledger_apply_one(
    p_product_id bigint, p_delta bigint, p_source text, p_at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_stock     bigint;
    v_threshold integer;
    v_low       boolean;
    v_old       record;
    v_new       record;
    v_payload   jsonb;
    v_ignored   text;
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + p_delta WHERE id = p_product_id
    RETURNING stock_quantity, low_stock_threshold INTO v_stock, v_threshold;
    SELECT low_stock_flag, negative_flag INTO v_old
      FROM inventory_snapshot WHERE product_id = p_product_id FOR UPDATE;
    v_low := v_threshold IS NOT NULL AND v_stock <= v_threshold;
    IF v_low IS DISTINCT FROM v_old.low_stock_flag
       OR (v_stock < 0) IS DISTINCT FROM v_old.negative_flag THEN
        PERFORM stockline_inventory_snapshot_refresh_v2(p_product_id, p_delta, p_source, p_at);
        RETURN;
    END IF;
    v_ignored := set_config('stockline.snapshot_refresh', 'on', true);
    UPDATE inventory_snapshot
       SET current_stock    = v_stock,
           last_activity_at = COALESCE(p_at, last_activity_at)
     WHERE product_id = p_product_id
    RETURNING current_stock, low_stock_flag, negative_flag, tracking_enabled, last_activity_at
         INTO v_new;
    v_ignored := set_config('stockline.snapshot_refresh', 'off', true);
    v_payload := jsonb_build_object(
        'product_id', p_product_id,
        'current_stock', v_new.current_stock,
        'low_stock_flag', v_new.low_stock_flag,
        'negative_flag', v_new.negative_flag,
        'tracking_enabled', v_new.tracking_enabled,
        'last_activity_at', v_new.last_activity_at,
        'delta', p_delta,
        'source', p_source);
    IF current_setting('stockline.event_positions', true) = 'after_commit' THEN
        INSERT INTO inventory_events (type, payload) VALUES ('stock-updated', v_payload);
    ELSE
        PERFORM stockline_inventory_events_emit('stock-updated', v_payload);
    END IF;
END $$;
ALTER FUNCTION stockline_inventory_ledger_apply_one(bigint, bigint, text, timestamptz)
    SET plan_cache_mode = force_generic_plan;

CREATE OR REPLACE FUNCTION stockline_inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_row     record;
    v_applied boolean;
    v_ignored text;
BEGIN
    IF current_setting('stockline.event_positions', true) = 'after_commit' THEN
        -- held from here to COMMIT: nobody moves these products' stock or flags meanwhile,
        -- and the next statement's snapshot sees every change committed before
        PERFORM 1 FROM products
          WHERE id IN (SELECT product_id FROM stockline_applied_rows) ORDER BY id FOR UPDATE;
        v_ignored := set_config('stockline.snapshot_refresh', 'on', true);
        WITH r AS MATERIALIZED (
            SELECT a.id, a.product_id, a.delta, a.source, a.created_at,
                   (p.stock_quantity
                    + sum(a.delta) OVER (PARTITION BY a.product_id ORDER BY a.id))::bigint AS stock,
                   p.low_stock_threshold AS threshold, s.low_stock_flag, s.negative_flag
              FROM stockline_applied_rows a
              JOIN products p ON p.id = a.product_id
              JOIN inventory_snapshot s ON s.product_id = a.product_id
        ), quiet AS (
            -- no row moves a flag, and every row has its product and snapshot
            SELECT count(*) = (SELECT count(*) FROM stockline_applied_rows)
                   AND bool_and((threshold IS NOT NULL AND stock <= threshold) = low_stock_flag
                                AND (stock < 0) = negative_flag) AS ok
              FROM r
        ), t AS (
            SELECT DISTINCT ON (product_id) product_id, stock, created_at
              FROM r WHERE (SELECT ok FROM quiet)
             ORDER BY product_id, id DESC
        ), p AS (
            UPDATE products p SET stock_quantity = t.stock
              FROM t WHERE p.id = t.product_id
            RETURNING p.id, p.stock_quantity
        ), s AS (
            UPDATE inventory_snapshot s
               SET current_stock = p.stock_quantity,
                   last_activity_at = COALESCE(t.created_at, s.last_activity_at)
              FROM p JOIN t ON t.product_id = p.id
             WHERE s.product_id = p.id
            RETURNING s.product_id, s.tracking_enabled
        ), e AS (
            INSERT INTO inventory_events (type, payload)
            SELECT 'stock-updated', jsonb_build_object(
                       'product_id', r.product_id,
                       'current_stock', r.stock,
                       'low_stock_flag', r.low_stock_flag,
                       'negative_flag', r.negative_flag,
                       'tracking_enabled', s.tracking_enabled,
                       'last_activity_at', r.created_at,
                       'delta', r.delta,
                       'source', r.source)
              FROM r JOIN s ON s.product_id = r.product_id
             ORDER BY r.id
            RETURNING 1
        )
        SELECT ok INTO v_applied FROM quiet;
        v_ignored := set_config('stockline.snapshot_refresh', 'off', true);
        IF v_applied THEN
            RETURN NULL;
        END IF;
    END IF;
    FOR v_row IN SELECT product_id, delta, source, created_at FROM stockline_applied_rows ORDER BY id
    LOOP
        PERFORM stockline_inventory_ledger_apply_one(v_row.product_id, v_row.delta, v_row.source,
                                                     v_row.created_at);
    END LOOP;
    RETURN NULL;
END $$;
-- by key whatever the planner thinks of a small catalogue (as 0026 for the purchase):
-- nested loops over the primary keys, not a hash of the whole catalogue
ALTER FUNCTION stockline_inventory_ledger_apply()
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
    SET enable_hashjoin = off SET enable_mergejoin = off;

DROP TRIGGER inventory_ledger_apply ON inventory_ledger;
CREATE TRIGGER inventory_ledger_apply AFTER INSERT ON inventory_ledger
    REFERENCING NEW TABLE AS stockline_applied_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stockline_inventory_ledger_apply();
