-- stockline core schema: catalogue, people, purchases, the ledger and its snapshot,
-- the event stream and the notification log. The rules that must hold whoever
-- writes live here, in triggers that run inside the writing transaction.

-- ---------------------------------------------------------------- catalogue
CREATE TABLE products (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku                 text        NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_cents         bigint      NOT NULL CHECK (price_cents >= 0),
    low_stock_threshold integer     CHECK (low_stock_threshold >= 0),
    active              boolean     NOT NULL DEFAULT true,
    -- cached copy of SUM(inventory_ledger.delta); negative allowed (S-2)
    stock_quantity      bigint      NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- people
CREATE TABLE admins (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled      boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX admins_email_key ON admins (lower(email));

CREATE TABLE kiosks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- sha256 of the token; the token itself is shown once and never stored
    token_hash bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled   boolean     NOT NULL DEFAULT false
);

CREATE TABLE admin_sessions (
    token_hash bytea       PRIMARY KEY,
    admin_id   bigint      NOT NULL REFERENCES admins (id),
    csrf_token text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expires_idx ON admin_sessions (expires_at);

-- failed logins, counted per client address across all processes
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_address_idx ON login_failures (address, created_at);

-- ---------------------------------------------------------------- configuration
CREATE TABLE system_config (
    key        text PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint      REFERENCES admins (id)
);
INSERT INTO system_config (key, value) VALUES ('inventory_tracking_enabled', 'true');

-- Every process caches system_config; this wakes them on change (S-9).
CREATE FUNCTION stockline_system_config_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stockline_config', NEW.key);
    RETURN NULL;
END $$;
CREATE TRIGGER system_config_notify AFTER INSERT OR UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION stockline_system_config_notify();

CREATE FUNCTION stockline_tracking_global_enabled() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT value = 'true'::jsonb FROM system_config
                     WHERE key = 'inventory_tracking_enabled'), true)
$$;

-- ---------------------------------------------------------------- purchases
CREATE TABLE transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kiosk_id        bigint      REFERENCES kiosks (id),
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transaction_items (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id   bigint  NOT NULL REFERENCES transactions (id),
    line_no          integer NOT NULL,
    product_id       bigint  NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    UNIQUE (transaction_id, line_no)
);
CREATE INDEX transaction_items_product_idx ON transaction_items (product_id);

-- Idempotency-Key per caller: the first answer is stored with its transaction.
CREATE TABLE idempotency_keys (
    scope          text        NOT NULL,
    key            text        NOT NULL,
    request_hash   bytea       NOT NULL,
    response       jsonb,
    transaction_id bigint      REFERENCES transactions (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- ---------------------------------------------------------------- event stream (S-11)
-- Ids are drawn under this one row's lock, held until commit: events become
-- visible strictly in id order, so "id > last_seen" never skips a late commit.
-- docs/decisions/0001-gapless-event-ids.md explains the choice.
CREATE TABLE inventory_event_counter (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id        bigint  NOT NULL,
    -- every id <= pruned_through may have been removed by retention
    pruned_through bigint  NOT NULL DEFAULT 0
);
INSERT INTO inventory_event_counter (last_id) VALUES (0);

CREATE TABLE inventory_events (
    id         bigint PRIMARY KEY,
    type       text        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_events_created_idx ON inventory_events (created_at);

CREATE FUNCTION stockline_inventory_events_emit(p_type text, p_payload jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE inventory_event_counter SET last_id = last_id + 1 RETURNING last_id INTO v_id;
    INSERT INTO inventory_events (id, type, payload) VALUES (v_id, p_type, p_payload);
    -- a doorbell only: listeners read the table (duplicates fold within a transaction)
    PERFORM pg_notify('inventory_events', '');
    RETURN v_id;
END $$;

-- ---------------------------------------------------------------- notifications (S-6, S-7)
CREATE TABLE email_notification_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type             text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'retrying', 'sent', 'failed')),
    attempt_count    integer     NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz DEFAULT now(),
    lease_expires_at timestamptz,
    error_details    text,
    message_id       text        NOT NULL,
    -- dedupe (FR-8.4): one open breach per product until restock re-arms it
    product_id       bigint      REFERENCES products (id),
    threshold        integer,
    breach_open      boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX email_notification_log_open_breach_key
    ON email_notification_log (product_id) WHERE type = 'low_stock' AND breach_open;
CREATE INDEX email_notification_log_due_idx
    ON email_notification_log (next_attempt_at) WHERE status IN ('pending', 'retrying', 'sending');
CREATE INDEX email_notification_log_status_idx ON email_notification_log (status, id);

CREATE TABLE email_notification_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint      NOT NULL REFERENCES email_notification_log (id),
    attempt_no      integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    outcome         text        NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent', 'lease_expired')),
    smtp_code       integer,
    smtp_reply      text,
    error           text,
    instance_id     text,
    UNIQUE (notification_id, attempt_no)
);

-- Mail kept here instead of sent when no SMTP_HOST is configured (S-10).
CREATE TABLE captured_mail (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint      REFERENCES email_notification_log (id),
    message_id      text        NOT NULL,
    recipients      text[]      NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION stockline_email_notification_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stockline_notifications', '');
    RETURN NULL;
END $$;
CREATE TRIGGER email_notification_log_notify
    AFTER INSERT OR UPDATE OF status ON email_notification_log
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION stockline_email_notification_log_notify();

-- ---------------------------------------------------------------- ledger and snapshot (S-1…S-6)
CREATE TABLE inventory_ledger (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id     bigint      NOT NULL REFERENCES products (id),
    delta          integer     NOT NULL CHECK (delta <> 0),
    source         text        NOT NULL
        CHECK (source IN ('purchase', 'manual_adjustment', 'reconciliation', 'system')),
    reason         text,
    admin_id       bigint      REFERENCES admins (id),
    transaction_id bigint      REFERENCES transactions (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_ledger_product_idx ON inventory_ledger (product_id, id);
CREATE INDEX inventory_ledger_created_idx ON inventory_ledger (created_at);

CREATE TABLE inventory_snapshot (
    product_id       bigint PRIMARY KEY REFERENCES products (id),
    current_stock    bigint      NOT NULL DEFAULT 0,
    low_stock_flag   boolean     NOT NULL DEFAULT false,
    negative_flag    boolean     NOT NULL DEFAULT false,
    tracking_enabled boolean     NOT NULL DEFAULT true,
    last_activity_at timestamptz
);
CREATE INDEX inventory_snapshot_low_idx ON inventory_snapshot (product_id) WHERE low_stock_flag;
CREATE INDEX inventory_snapshot_negative_idx ON inventory_snapshot (product_id) WHERE negative_flag;

-- Append-only: the database itself refuses to rewrite history.
CREATE FUNCTION stockline_inventory_ledger_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'inventory_ledger is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER inventory_ledger_no_update BEFORE UPDATE OR DELETE ON inventory_ledger
    FOR EACH ROW EXECUTE FUNCTION stockline_inventory_ledger_reject();
CREATE TRIGGER inventory_ledger_no_truncate BEFORE TRUNCATE ON inventory_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION stockline_inventory_ledger_reject();

-- Recompute a product's flags after its stock or threshold moved, and raise the
-- breach / clear that the transition means. The caller has locked the products
-- row, so two transactions never both see the same false→true flip (S-6).
CREATE FUNCTION stockline_inventory_snapshot_refresh(
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
        -- the unique open-breach index makes a second row impossible even if this ran twice
        INSERT INTO email_notification_log
               (type, payload, product_id, threshold, breach_open, message_id)
        VALUES ('low_stock',
                jsonb_build_object('product_id', v_product.id, 'sku', v_product.sku,
                                   'name', v_product.name, 'current_stock', v_new.current_stock,
                                   'threshold', v_product.low_stock_threshold,
                                   'detected_at', now()),
                v_product.id, v_product.low_stock_threshold, true,
                '<low-stock.' || v_product.id || '.' || md5(random()::text || clock_timestamp()::text)
                    || '@stockline>');
        PERFORM stockline_inventory_events_emit('threshold-breach', jsonb_build_object(
            'product_id', p_product_id,
            'current_stock', v_new.current_stock,
            'threshold', v_product.low_stock_threshold));
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

CREATE FUNCTION stockline_inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- S-1: the cached stock, the snapshot and the ledger move in one transaction
    UPDATE products SET stock_quantity = stock_quantity + NEW.delta WHERE id = NEW.product_id;
    PERFORM stockline_inventory_snapshot_refresh(NEW.product_id, NEW.delta, NEW.source,
                                                  NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_ledger_apply AFTER INSERT ON inventory_ledger
    FOR EACH ROW EXECUTE FUNCTION stockline_inventory_ledger_apply();

-- Stock moves only through the ledger.
CREATE FUNCTION stockline_products_guard_stock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.stock_quantity <> 0 THEN
        RAISE EXCEPTION 'products.stock_quantity starts at 0; stock comes from the ledger'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.stock_quantity <> OLD.stock_quantity
       AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'products.stock_quantity changes only through inventory_ledger'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER products_guard_stock BEFORE INSERT OR UPDATE OF stock_quantity ON products
    FOR EACH ROW EXECUTE FUNCTION stockline_products_guard_stock();

CREATE FUNCTION stockline_products_create_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- flags start false: the creating transaction's first ledger row (or an explicit
    -- refresh when there is no initial stock) computes them, so a product created
    -- well stocked never raises a breach-and-clear pair
    INSERT INTO inventory_snapshot (product_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER products_create_snapshot AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION stockline_products_create_snapshot();

CREATE FUNCTION stockline_products_threshold_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stockline_inventory_snapshot_refresh(NEW.id, NULL, NULL, NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER products_threshold_changed AFTER UPDATE OF low_stock_threshold ON products
    FOR EACH ROW WHEN (OLD.low_stock_threshold IS DISTINCT FROM NEW.low_stock_threshold)
    EXECUTE FUNCTION stockline_products_threshold_changed();
