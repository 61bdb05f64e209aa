-- The purchase reads its products by key, and the write path's guards run only when
-- they refuse (issue 11).
--
-- 1. Generic plans on small tables were sequential scans. 0023 keeps the write path's
--    plans generic; for `id = ANY(p_product_ids)` and the joins over unnest() the planner
--    then costs a scan of a small catalogue below its index, and keeps that plan: each
--    purchase scanned products twice and inventory_snapshot once, every dead row version
--    of their hot pages included (pg_stat_user_tables: one products seq_scan per
--    purchase; 17 pages for 60 rows after a minute of sales). Now one statement locks the
--    basket's products in id order and reads their price, state and tracking switch by
--    primary key; the checks and totals are computed from what it read, and the lines'
--    answer comes back from their own INSERT ... RETURNING. Same lock order (products in
--    id order, then, through the ledger trigger, each snapshot row), same answer, same
--    SQLSTATEs (SL404 before SL422).
-- 2. The stock guard (products) and the snapshot guard ran a PL/pgSQL trigger on every
--    stock change only to find nothing wrong. Their conditions move to the triggers' WHEN
--    clauses, evaluated without calling a function: the function now runs only to refuse.
--    In a WHEN clause pg_trigger_depth() is the depth of the statement that fired it (the
--    function body sees one more), so `< 1` there is the body's `< 2`. DELETE, which
--    the snapshot guard always refuses, gets a trigger of its own (WHEN cannot name NEW
--    for a DELETE).
-- 3. The ledger trigger writes its stock-updated row itself when events are positioned
--    after commit (the service's connections, decision 0003), as
--    stockline_inventory_events_emit does in that mode, and calls emit otherwise; its
--    markers are set by assignment (an expression, not a query).
-- Measured (bench/purchases and a same-run A/B with pgbench, docs/benchmarks.md).

DROP TRIGGER products_guard_stock ON products;
CREATE TRIGGER products_guard_stock_insert BEFORE INSERT ON products
    FOR EACH ROW WHEN (NEW.stock_quantity <> 0)
    EXECUTE FUNCTION stockline_products_guard_stock();
CREATE TRIGGER products_guard_stock BEFORE UPDATE OF stock_quantity ON products
    FOR EACH ROW WHEN (NEW.stock_quantity <> OLD.stock_quantity AND pg_trigger_depth() < 1)
    EXECUTE FUNCTION stockline_products_guard_stock();

DROP TRIGGER inventory_snapshot_guard ON inventory_snapshot;
CREATE TRIGGER inventory_snapshot_guard_delete BEFORE DELETE ON inventory_snapshot
    FOR EACH ROW EXECUTE FUNCTION stockline_inventory_snapshot_guard();
CREATE TRIGGER inventory_snapshot_guard BEFORE UPDATE ON inventory_snapshot
    FOR EACH ROW WHEN ((NEW.product_id, NEW.current_stock, NEW.low_stock_flag, NEW.negative_flag,
        NEW.last_activity_at)
       IS DISTINCT FROM
       (OLD.product_id, OLD.current_stock, OLD.low_stock_flag, OLD.negative_flag,
        OLD.last_activity_at)
       AND current_setting('stockline.snapshot_refresh', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION stockline_inventory_snapshot_guard();

CREATE OR REPLACE FUNCTION stockline_inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_stock     bigint;
    v_threshold integer;
    v_low       boolean;
    v_old       record;
    v_new       record;
    v_payload   jsonb;
    v_ignored   text;
BEGIN
    -- S-1: the cached stock, the snapshot and the ledger move in one transaction
    UPDATE products SET stock_quantity = stock_quantity + NEW.delta WHERE id = NEW.product_id
    RETURNING stock_quantity, low_stock_threshold INTO v_stock, v_threshold;
    SELECT low_stock_flag, negative_flag INTO v_old
      FROM inventory_snapshot WHERE product_id = NEW.product_id FOR UPDATE;
    v_low := v_threshold IS NOT NULL AND v_stock <= v_threshold;
    IF v_low IS DISTINCT FROM v_old.low_stock_flag
       OR (v_stock < 0) IS DISTINCT FROM v_old.negative_flag THEN
        PERFORM stockline_inventory_snapshot_refresh_v2(NEW.product_id, NEW.delta, NEW.source,
                                                         NEW.created_at);
        RETURN NULL;
    END IF;
    v_ignored := set_config('stockline.snapshot_refresh', 'on', true);
    UPDATE inventory_snapshot
       SET current_stock    = v_stock,
           last_activity_at = COALESCE(NEW.created_at, last_activity_at)
     WHERE product_id = NEW.product_id
    RETURNING current_stock, low_stock_flag, negative_flag, tracking_enabled, last_activity_at
         INTO v_new;
    v_ignored := set_config('stockline.snapshot_refresh', 'off', true);
    v_payload := jsonb_build_object(
        'product_id', NEW.product_id,
        'current_stock', v_new.current_stock,
        'low_stock_flag', v_new.low_stock_flag,
        'negative_flag', v_new.negative_flag,
        'tracking_enabled', v_new.tracking_enabled,
        'last_activity_at', v_new.last_activity_at,
        'delta', NEW.delta,
        'source', NEW.source);
    -- as stockline_inventory_events_emit (migration 0011): after_commit writes the row
    -- without a position, the positioner numbers it after COMMIT
    IF current_setting('stockline.event_positions', true) = 'after_commit' THEN
        INSERT INTO inventory_events (type, payload) VALUES ('stock-updated', v_payload);
    ELSE
        PERFORM stockline_inventory_events_emit('stock-updated', v_payload);
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION stockline_inventory_ledger_apply() SET plan_cache_mode = force_generic_plan;

CREATE OR REPLACE FUNCTION stockline_transactions_purchase_v1(
    p_scope text, p_key text, p_hash bytea, p_kiosk_id bigint,
    p_product_ids bigint[], p_quantities integer[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_stored   record;
    v_found    record;
    v_missing  text;
    v_inactive text;
    v_prices   bigint[];
    v_tracked  boolean[];
    v_total    bigint;
    v_tx       record;
    v_items    jsonb;
    v_answer   jsonb;
BEGIN
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash)
        VALUES (p_scope, p_key, p_hash)
        ON CONFLICT (scope, key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT request_hash, response INTO v_stored
              FROM idempotency_keys WHERE scope = p_scope AND key = p_key;
            IF v_stored.request_hash <> p_hash THEN
                RETURN jsonb_build_object('outcome', 'conflict');
            END IF;
            RETURN jsonb_build_object('outcome', 'replay', 'answer', v_stored.response);
        END IF;
    END IF;

    -- lock and read the basket's products in id order, each by its primary key
    SELECT array_agg(p.id) AS ids, array_agg(p.price_cents) AS prices,
           array_agg(p.active) AS active,
           array_agg((SELECT s.tracking_enabled FROM inventory_snapshot s
                       WHERE s.product_id = p.id)) AS tracked
      INTO v_found
      FROM (SELECT id, price_cents, active FROM products
             WHERE id = ANY(p_product_ids) ORDER BY id FOR UPDATE) p;

    SELECT string_agg(DISTINCT l.id::text, ', ') FILTER (WHERE f.n IS NULL),
           string_agg(DISTINCT l.id::text, ', ') FILTER (WHERE NOT v_found.active[f.n]),
           array_agg(v_found.prices[f.n] ORDER BY l.line_no),
           array_agg(v_found.tracked[f.n] ORDER BY l.line_no),
           sum(v_found.prices[f.n] * l.quantity)
      INTO v_missing, v_inactive, v_prices, v_tracked, v_total
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(id, quantity, line_no)
      LEFT JOIN LATERAL (SELECT array_position(v_found.ids, l.id) AS n) f ON true;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'unknown product id(s): %', v_missing USING ERRCODE = 'SL404';
    END IF;
    IF v_inactive IS NOT NULL THEN
        RAISE EXCEPTION 'product(s) not for sale: %', v_inactive USING ERRCODE = 'SL422';
    END IF;
    IF NOT stockline_tracking_global_enabled() THEN
        v_tracked := array_fill(false, ARRAY[cardinality(v_tracked)]);
    END IF;

    INSERT INTO transactions (kiosk_id, total_cents, idempotency_key)
    VALUES (p_kiosk_id, v_total, p_key)
    RETURNING id, created_at INTO v_tx;

    WITH lines AS (
        INSERT INTO transaction_items (transaction_id, line_no, product_id, quantity,
                                       unit_price_cents)
        SELECT v_tx.id, l.line_no, l.product_id, l.quantity, v_prices[l.line_no]
          FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY
               AS l(product_id, quantity, line_no)
        RETURNING line_no, product_id, quantity, unit_price_cents
    )
    SELECT jsonb_agg(jsonb_build_object(
               'product_id', product_id, 'quantity', quantity,
               'unit_price_cents', unit_price_cents,
               'line_total_cents', unit_price_cents * quantity) ORDER BY line_no)
      INTO v_items FROM lines;

    INSERT INTO inventory_ledger (product_id, delta, source, transaction_id)
    SELECT l.product_id, -l.quantity, 'purchase', v_tx.id
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(product_id, quantity, line_no)
     WHERE v_tracked[l.line_no]
     ORDER BY l.line_no;

    v_answer := jsonb_build_object('transaction_id', v_tx.id, 'total_cents', v_total,
                                   'items', v_items, 'created_at', v_tx.created_at);
    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys SET response = v_answer, transaction_id = v_tx.id
         WHERE scope = p_scope AND key = p_key;
    END IF;
    RETURN jsonb_build_object('outcome', 'created', 'answer', v_answer);
END $$;
ALTER FUNCTION stockline_transactions_purchase_v1(text, text, bytea, bigint, bigint[], integer[])
    SET plan_cache_mode = force_generic_plan;
