-- The ledger trigger's common case in fewer steps (issue 11: the purchase statement cost
-- about 1.9x the raw kiosk SQL's server CPU; bench/purchases).
--
-- A stock change that moves no flag (low_stock_flag and negative_flag stay as they were)
-- has only two effects beyond the stock itself: the snapshot's new stock and activity
-- time, and one `stock-updated` event. 0013's refresh gets there through a function call
-- that re-reads the product and the snapshot whole and asks for the global tracking
-- switch, which only a flag change needs. Now the trigger reads the old flags (locking
-- the snapshot row, as before), and
-- - when a flag would change, calls stockline_inventory_snapshot_refresh_v2 exactly as
--   before (breach, re-arm, snoozes, negative stock: one place, unchanged);
-- - otherwise updates the snapshot and emits the same event itself.
-- Same rows, same event payload, same lock order (product row, then snapshot row).
CREATE OR REPLACE FUNCTION stockline_inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_stock     bigint;
    v_threshold integer;
    v_low       boolean;
    v_old       record;
    v_new       record;
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
    PERFORM set_config('stockline.snapshot_refresh', 'on', true);
    UPDATE inventory_snapshot
       SET current_stock    = v_stock,
           last_activity_at = COALESCE(NEW.created_at, last_activity_at)
     WHERE product_id = NEW.product_id
    RETURNING current_stock, low_stock_flag, negative_flag, tracking_enabled, last_activity_at
         INTO v_new;
    PERFORM set_config('stockline.snapshot_refresh', 'off', true);
    PERFORM stockline_inventory_events_emit('stock-updated', jsonb_build_object(
        'product_id', NEW.product_id,
        'current_stock', v_new.current_stock,
        'low_stock_flag', v_new.low_stock_flag,
        'negative_flag', v_new.negative_flag,
        'tracking_enabled', v_new.tracking_enabled,
        'last_activity_at', v_new.last_activity_at,
        'delta', NEW.delta,
        'source', NEW.source));
    RETURN NULL;
END $$;
