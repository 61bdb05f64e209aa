-- Defence in depth (SPEC §7.1, issue 10).
--
-- 1. inventory_snapshot changes only through the ledger trigger path: a direct UPDATE of
--    its stock or flags, a DELETE or a TRUNCATE is refused. The refresh function marks
--    its own update with a transaction-local setting that the guard checks. This stops
--    mistakes and naive writes by any role; it does not stop a role that sets the marker
--    itself, nor the table owner or a superuser, who can disable triggers
--    (docs/security.md says what each role can bypass; verify catches any mismatch).
-- 2. delta becomes bigint: a reconciliation whose delta exceeds 32 bits (stock driven far
--    negative, then counted) is a normal correction, not a refusal. The refresh function
--    takes a bigint delta, so it gets a _v2 name; the old name stays as a thin wrapper.

ALTER TABLE inventory_ledger ALTER COLUMN delta TYPE bigint;

-- Rebuilt from 0012's stockline_inventory_snapshot_refresh (the newest on main when this
-- was written); only the marker around the UPDATE and the delta's type are new.
CREATE FUNCTION stockline_inventory_snapshot_refresh_v2(
    p_product_id bigint, p_delta bigint, p_source text, p_at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_product  products%ROWTYPE;
    v_old      inventory_snapshot%ROWTYPE;
    v_new      inventory_snapshot%ROWTYPE;
    v_low      boolean;
    v_tracking boolean;
BEGIN
    SELECT * INTO v_product FROM products WHERE id = p_product_id;
    SELECT * INTO v_old FROM inventory_snapshot WHERE product_id = p_product_id FOR UPDATE;
    v_low := v_product.low_stock_threshold IS NOT NULL
             AND v_product.stock_quantity <= v_product.low_stock_threshold;

    PERFORM set_config('stockline.snapshot_refresh', 'on', true);
    UPDATE inventory_snapshot
       SET current_stock    = v_product.stock_quantity,
           low_stock_flag   = v_low,
           negative_flag    = v_product.stock_quantity < 0,
           last_activity_at = COALESCE(p_at, last_activity_at)
     WHERE product_id = p_product_id
    RETURNING * INTO v_new;
    PERFORM set_config('stockline.snapshot_refresh', 'off', true);

    v_tracking := v_new.tracking_enabled AND stockline_tracking_global_enabled();

    IF p_delta IS NOT NULL THEN
        PERFORM stockline_inventory_events_emit('stock-updated', jsonb_build_object(
            'product_id', p_product_id,
            'current_stock', v_new.current_stock,
            'low_stock_flag', v_new.low_stock_flag,
            'negative_flag', v_new.negative_flag,
            'tracking_enabled', v_new.tracking_enabled,
            'last_activity_at', v_new.last_activity_at,
            'delta', p_delta,
            'source', p_source));
    END IF;

    IF v_low AND NOT v_old.low_stock_flag AND v_tracking THEN
        PERFORM stockline_inventory_snapshot_raise_breach(p_product_id);
    ELSIF v_old.low_stock_flag AND NOT v_low THEN
        -- restock (or a lowered threshold) re-arms the breach and ends an until_restocked snooze
        UPDATE email_notification_log SET breach_open = false, updated_at = now()
         WHERE product_id = p_product_id AND type = 'low_stock' AND breach_open;
        DELETE FROM product_snoozes WHERE product_id = p_product_id AND until_restocked;
        PERFORM stockline_inventory_events_emit('threshold-cleared', jsonb_build_object(
            'product_id', p_product_id,
            'current_stock', v_new.current_stock,
            'threshold', v_product.low_stock_threshold));
    END IF;

    -- negative stock is a discrepancy to investigate (S-2 allows it): one notification per
    -- false→true crossing, re-armed when stock is back at zero or above
    IF v_new.negative_flag AND NOT v_old.negative_flag AND v_tracking THEN
        PERFORM stockline_email_notification_log_raise('negative_stock', v_product.id,
            v_product.low_stock_threshold,
            jsonb_build_object('product_id', v_product.id, 'sku', v_product.sku,
                               'name', v_product.name, 'current_stock', v_new.current_stock,
                               'threshold', v_product.low_stock_threshold,
                               'detected_at', now()));
    ELSIF v_old.negative_flag AND NOT v_new.negative_flag THEN
        UPDATE email_notification_log SET breach_open = false, updated_at = now()
         WHERE product_id = p_product_id AND type = 'negative_stock' AND breach_open;
        IF v_product.low_stock_threshold IS NULL THEN
            -- without a threshold there is no low-stock re-arm; this is the restock
            DELETE FROM product_snoozes WHERE product_id = p_product_id AND until_restocked;
        END IF;
    END IF;
END $$;

-- The old contract, kept for callers during a rolling restart: change the _v2 body, not this.
CREATE OR REPLACE FUNCTION stockline_inventory_snapshot_refresh(
    p_product_id bigint, p_delta integer, p_source text, p_at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stockline_inventory_snapshot_refresh_v2(p_product_id, p_delta::bigint, p_source, p_at);
END $$;

-- Rebuilt from 0001's definition; calls _v2 with the (now bigint) delta.
CREATE OR REPLACE FUNCTION stockline_inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- S-1: the cached stock, the snapshot and the ledger move in one transaction
    UPDATE products SET stock_quantity = stock_quantity + NEW.delta WHERE id = NEW.product_id;
    PERFORM stockline_inventory_snapshot_refresh_v2(NEW.product_id, NEW.delta, NEW.source,
                                                     NEW.created_at);
    RETURN NULL;
END $$;

-- Rebuilt from 0001's definition; calls _v2.
CREATE OR REPLACE FUNCTION stockline_products_threshold_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stockline_inventory_snapshot_refresh_v2(NEW.id, NULL, NULL, NULL);
    RETURN NULL;
END $$;

CREATE FUNCTION stockline_inventory_snapshot_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'inventory_snapshot: % is not allowed; a snapshot lives as long as its product', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    -- tracking_enabled is the one column set directly (PUT .../tracking)
    IF (NEW.product_id, NEW.current_stock, NEW.low_stock_flag, NEW.negative_flag,
        NEW.last_activity_at)
       IS DISTINCT FROM
       (OLD.product_id, OLD.current_stock, OLD.low_stock_flag, OLD.negative_flag,
        OLD.last_activity_at)
       AND current_setting('stockline.snapshot_refresh', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'inventory_snapshot changes only through inventory_ledger'
            USING ERRCODE = 'restrict_violation',
                  HINT = 'write a ledger row (an adjustment or a reconciliation)';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inventory_snapshot_guard BEFORE UPDATE OR DELETE ON inventory_snapshot
    FOR EACH ROW EXECUTE FUNCTION stockline_inventory_snapshot_guard();
CREATE TRIGGER inventory_snapshot_no_truncate BEFORE TRUNCATE ON inventory_snapshot
    FOR EACH STATEMENT EXECUTE FUNCTION stockline_inventory_snapshot_guard();
