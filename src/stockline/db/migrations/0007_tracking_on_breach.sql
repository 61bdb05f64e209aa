-- Effective tracking turning on is a breach for a product that is already low (SPEC
-- §7.1, S-6). A product can go low while tracking is off (an adjustment or a threshold
-- edit moves its flag, but no breach is raised); when tracking comes back on, for the
-- product or globally, a low product with no open breach gets its one low_stock
-- notification and threshold-breach event, in the toggling transaction.

-- One place raises a breach: the open-breach index (ON CONFLICT) keeps it to one per
-- crossing whoever calls, even two callers racing. Returns whether it raised one.
CREATE FUNCTION stockline_inventory_snapshot_raise_breach(p_product_id bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_product products%ROWTYPE;
    v_snap    inventory_snapshot%ROWTYPE;
    v_id      bigint;
BEGIN
    SELECT * INTO v_product FROM products WHERE id = p_product_id;
    SELECT * INTO v_snap FROM inventory_snapshot WHERE product_id = p_product_id;
    INSERT INTO email_notification_log
           (type, payload, product_id, threshold, breach_open, message_id)
    VALUES ('low_stock',
            jsonb_build_object('product_id', v_product.id, 'sku', v_product.sku,
                               'name', v_product.name, 'current_stock', v_snap.current_stock,
                               'threshold', v_product.low_stock_threshold,
                               'detected_at', now()),
            v_product.id, v_product.low_stock_threshold, true,
            '<low-stock.' || v_product.id || '.' || md5(random()::text || clock_timestamp()::text)
                || '@stockline>')
    ON CONFLICT (product_id) WHERE type = 'low_stock' AND breach_open DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM stockline_inventory_events_emit('threshold-breach', jsonb_build_object(
        'product_id', p_product_id,
        'current_stock', v_snap.current_stock,
        'threshold', v_product.low_stock_threshold));
    RETURN true;
END $$;

-- Rebuilt from 0001's definition; the breach itself now comes from the function above.
CREATE OR REPLACE FUNCTION stockline_inventory_snapshot_refresh(
    p_product_id bigint, p_delta integer, p_source text, p_at timestamptz
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

    UPDATE inventory_snapshot
       SET current_stock    = v_product.stock_quantity,
           low_stock_flag   = v_low,
           negative_flag    = v_product.stock_quantity < 0,
           last_activity_at = COALESCE(p_at, last_activity_at)
     WHERE product_id = p_product_id
    RETURNING * INTO v_new;

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
        -- restock (or a lowered threshold) re-arms the breach
        UPDATE email_notification_log SET breach_open = false, updated_at = now()
         WHERE product_id = p_product_id AND type = 'low_stock' AND breach_open;
        PERFORM stockline_inventory_events_emit('threshold-cleared', jsonb_build_object(
            'product_id', p_product_id,
            'current_stock', v_new.current_stock,
            'threshold', v_product.low_stock_threshold));
    END IF;
END $$;

-- Product tracking on. set_product_tracking locks the products row first, as every
-- path that touches a snapshot does, so a concurrent stock change is either before
-- (its flag is seen here) or after (it sees tracking on and raises the breach itself).
CREATE FUNCTION stockline_inventory_snapshot_tracking_on() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF stockline_tracking_global_enabled() THEN
        PERFORM stockline_inventory_snapshot_raise_breach(NEW.product_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_snapshot_tracking_on AFTER UPDATE OF tracking_enabled
    ON inventory_snapshot FOR EACH ROW
    WHEN (NOT OLD.tracking_enabled AND NEW.tracking_enabled AND NEW.low_stock_flag)
    EXECUTE FUNCTION stockline_inventory_snapshot_tracking_on();

-- Global tracking on. Every products row is locked in id order (the lock order of
-- every stock change), so a stock change that read "tracking off" has committed
-- before the scan below, which then sees its flag; later ones see tracking on.
CREATE FUNCTION stockline_system_config_tracking_on() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_product_id bigint;
BEGIN
    PERFORM 1 FROM products ORDER BY id FOR UPDATE;
    FOR v_product_id IN
        SELECT s.product_id FROM inventory_snapshot s
         WHERE s.low_stock_flag AND s.tracking_enabled
         ORDER BY s.product_id
    LOOP
        PERFORM stockline_inventory_snapshot_raise_breach(v_product_id);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER system_config_tracking_on AFTER UPDATE ON system_config
    FOR EACH ROW
    WHEN (NEW.key = 'inventory_tracking_enabled' AND NEW.value = 'true'::jsonb
          AND OLD.value IS DISTINCT FROM 'true'::jsonb)
    EXECUTE FUNCTION stockline_system_config_tracking_on();
