-- A purchase in one round trip (bench/purchases: six statements cost more in round trips
-- than in work). Same steps as before, same lock order:
--   1. claim the Idempotency-Key (a concurrent holder of the same key is waited for);
--      a stored key answers 'replay' with the first answer, or 'conflict';
--   2. lock the products FOR UPDATE in id order, so concurrent baskets queue, never deadlock;
--   3. insert the transaction, its lines and, for tracked products, one ledger row per line
--      (whose trigger moves the snapshot, flags, events and breach notifications).
-- Unknown or inactive products raise (SQLSTATE SL404 / SL422) so the claim rolls back too.
CREATE FUNCTION stockline_transactions_purchase_v1(
    p_scope text, p_key text, p_hash bytea, p_kiosk_id bigint,
    p_product_ids bigint[], p_quantities integer[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_stored   record;
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

    PERFORM 1 FROM products WHERE id = ANY(p_product_ids) ORDER BY id FOR UPDATE;

    SELECT string_agg(DISTINCT l.product_id::text, ', ') FILTER (WHERE p.id IS NULL),
           string_agg(DISTINCT l.product_id::text, ', ') FILTER (WHERE NOT p.active)
      INTO v_missing, v_inactive
      FROM unnest(p_product_ids) AS l(product_id)
      LEFT JOIN products p ON p.id = l.product_id;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'unknown product id(s): %', v_missing USING ERRCODE = 'SL404';
    END IF;
    IF v_inactive IS NOT NULL THEN
        RAISE EXCEPTION 'product(s) not for sale: %', v_inactive USING ERRCODE = 'SL422';
    END IF;

    SELECT array_agg(p.price_cents ORDER BY l.line_no),
           array_agg(s.tracking_enabled AND stockline_tracking_global_enabled()
                     ORDER BY l.line_no),
           sum(p.price_cents * l.quantity)
      INTO v_prices, v_tracked, v_total
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(product_id, quantity, line_no)
      JOIN products p ON p.id = l.product_id
      JOIN inventory_snapshot s ON s.product_id = p.id;

    INSERT INTO transactions (kiosk_id, total_cents, idempotency_key)
    VALUES (p_kiosk_id, v_total, p_key)
    RETURNING id, created_at INTO v_tx;

    INSERT INTO transaction_items (transaction_id, line_no, product_id, quantity, unit_price_cents)
    SELECT v_tx.id, l.line_no, l.product_id, l.quantity, v_prices[l.line_no]
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(product_id, quantity, line_no);

    INSERT INTO inventory_ledger (product_id, delta, source, transaction_id)
    SELECT l.product_id, -l.quantity, 'purchase', v_tx.id
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(product_id, quantity, line_no)
     WHERE v_tracked[l.line_no]
     ORDER BY l.line_no;

    SELECT jsonb_agg(jsonb_build_object(
               'product_id', l.product_id, 'quantity', l.quantity,
               'unit_price_cents', v_prices[l.line_no],
               'line_total_cents', v_prices[l.line_no] * l.quantity) ORDER BY l.line_no)
      INTO v_items
      FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS l(product_id, quantity, line_no);

    v_answer := jsonb_build_object('transaction_id', v_tx.id, 'total_cents', v_total,
                                   'items', v_items, 'created_at', v_tx.created_at);
    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys SET response = v_answer, transaction_id = v_tx.id
         WHERE scope = p_scope AND key = p_key;
    END IF;
    RETURN jsonb_build_object('outcome', 'created', 'answer', v_answer);
END $$;
