-- Alerts staff live with (SPEC §7.4): snoozes, negative-stock notifications, digests
-- and webhook channels. The breach rules stay in the writing transaction (S-6); this
-- migration only decides how a raised notification starts out (suppressed, pending now,
-- or pending until the next digest time) and adds the per-channel delivery state.

-- ---------------------------------------------------------------- statuses
-- `suppressed`: raised while the product was snoozed; logged, never delivered.
ALTER TABLE email_notification_log DROP CONSTRAINT email_notification_log_status_check;
ALTER TABLE email_notification_log ADD CONSTRAINT email_notification_log_status_check
    CHECK (status IN ('pending', 'sending', 'retrying', 'sent', 'failed', 'suppressed'));

-- one open negative-stock crossing per product, as for low_stock (S-6)
CREATE UNIQUE INDEX email_notification_log_open_negative_key
    ON email_notification_log (product_id) WHERE type = 'negative_stock' AND breach_open;

-- ---------------------------------------------------------------- snoozes
-- A snooze ends when `until` passes or, with until_restocked, at the re-arm (whichever
-- comes first); an expired row is simply ignored until the next snooze replaces it.
CREATE TABLE product_snoozes (
    product_id      bigint PRIMARY KEY REFERENCES products (id),
    until           timestamptz,
    until_restocked boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      bigint      REFERENCES admins (id),
    CHECK (until IS NOT NULL OR until_restocked)
);

-- ---------------------------------------------------------------- digests
-- The trigger cannot run zoneinfo, so the next digest instants are computed in Python
-- (stockline.alerts.digest, DST-aware) and stored here; a breach waits for the first
-- one still ahead. PUT /api/admin/config rewrites them; the leader tops them up.
CREATE TABLE notification_digest_slots (
    at timestamptz PRIMARY KEY
);

-- One digest mail: its Message-ID stays the same on every retry of the unit (S-7).
CREATE TABLE notification_digests (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- digest: raised while the digest was enabled, so it is mailed in one. digest_id: the
-- digest mail it was first claimed into (its retries keep that unit).
-- channel_states: {"email": "sent", "webhook:host:hash": "failed", ...}; a channel that
-- reached an end is not attempted again.
ALTER TABLE email_notification_log
    ADD COLUMN digest boolean NOT NULL DEFAULT false,
    ADD COLUMN digest_id bigint REFERENCES notification_digests (id),
    ADD COLUMN channel_states jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX email_notification_log_digest_idx ON email_notification_log (digest_id)
    WHERE digest_id IS NOT NULL;

-- ---------------------------------------------------------------- attempts per channel
ALTER TABLE email_notification_attempts ADD COLUMN channel text NOT NULL DEFAULT 'email';
ALTER TABLE email_notification_attempts
    DROP CONSTRAINT email_notification_attempts_notification_id_attempt_no_key;
ALTER TABLE email_notification_attempts
    ADD CONSTRAINT email_notification_attempts_channel_attempt_key
    UNIQUE (notification_id, channel, attempt_no);
ALTER TABLE email_notification_attempts ADD COLUMN http_status integer;

-- ---------------------------------------------------------------- raising a notification
-- How a breach or a negative crossing starts out: suppressed while snoozed, else pending,
-- due now or (digest enabled) at the next digest slot. The open-breach unique indexes
-- (ON CONFLICT) keep it to one per crossing and type whoever calls, even two callers
-- racing. Returns the new row's id, or NULL when one is open already.
CREATE FUNCTION stockline_email_notification_log_raise(
    p_type text, p_product_id bigint, p_threshold integer, p_payload jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_snooze product_snoozes%ROWTYPE;
    v_digest boolean;
    v_next   timestamptz;
    v_id     bigint;
    v_msgid  text;
BEGIN
    v_msgid := '<' || replace(p_type, '_', '-') || '.' || p_product_id || '.'
               || md5(random()::text || clock_timestamp()::text) || '@stockline>';
    SELECT * INTO v_snooze FROM product_snoozes
     WHERE product_id = p_product_id AND (until IS NULL OR until > now());
    IF FOUND THEN
        INSERT INTO email_notification_log
               (type, payload, status, next_attempt_at, product_id, threshold, breach_open,
                message_id, error_details)
        VALUES (p_type, p_payload, 'suppressed', NULL, p_product_id, p_threshold, true, v_msgid,
                'suppressed: the product is snoozed'
                || CASE WHEN v_snooze.until IS NOT NULL
                        THEN ' until ' || to_char(v_snooze.until AT TIME ZONE 'UTC',
                                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        ELSE '' END
                || CASE WHEN v_snooze.until_restocked THEN ' (until restocked)' ELSE '' END)
        ON CONFLICT DO NOTHING
        RETURNING id INTO v_id;
        RETURN v_id;
    END IF;

    v_digest := COALESCE((SELECT (value ->> 'enabled')::boolean FROM system_config
                           WHERE key = 'notification_digest'), false);
    IF v_digest THEN
        -- no slot ahead (nobody topped them up): due now rather than never
        v_next := COALESCE((SELECT min(at) FROM notification_digest_slots WHERE at > now()),
                           now());
    END IF;
    INSERT INTO email_notification_log
           (type, payload, next_attempt_at, product_id, threshold, breach_open, message_id,
            digest)
    VALUES (p_type, p_payload, COALESCE(v_next, now()), p_product_id, p_threshold, true,
            v_msgid, v_digest)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;

-- Rebuilt from 0007's body (the newest on main when this was written): the low-stock
-- notification now comes from stockline_email_notification_log_raise (snooze, digest).
CREATE OR REPLACE FUNCTION stockline_inventory_snapshot_raise_breach(p_product_id bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_product products%ROWTYPE;
    v_snap    inventory_snapshot%ROWTYPE;
    v_id      bigint;
BEGIN
    SELECT * INTO v_product FROM products WHERE id = p_product_id;
    SELECT * INTO v_snap FROM inventory_snapshot WHERE product_id = p_product_id;
    v_id := stockline_email_notification_log_raise('low_stock', v_product.id,
        v_product.low_stock_threshold,
        jsonb_build_object('product_id', v_product.id, 'sku', v_product.sku,
                           'name', v_product.name, 'current_stock', v_snap.current_stock,
                           'threshold', v_product.low_stock_threshold,
                           'detected_at', now()));
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM stockline_inventory_events_emit('threshold-breach', jsonb_build_object(
        'product_id', p_product_id,
        'current_stock', v_snap.current_stock,
        'threshold', v_product.low_stock_threshold));
    RETURN true;
END $$;

-- Rebuilt from 0007's body (the newest on main when this was written): the re-arm ends
-- until_restocked snoozes, and the negative_flag false→true transition raises
-- `negative_stock` (SPEC §7.4).
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
