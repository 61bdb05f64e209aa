-- Several kiosk purchases in one statement, one transaction, one COMMIT (issue 11).
--
-- Most of a purchase's PostgreSQL CPU is not its rows but the fixed cost of each
-- statement it runs: an executor per statement, its plan's locks and constraint
-- expressions, the ledger trigger per INSERT statement, the COMMIT. Measured in one run
-- with pgbench on the same database (3-line purchases, 60 products, events positioned
-- after commit, PostgreSQL CPU per purchase): one purchase a call 1,924 µs; this
-- function with 2 purchases a call 1,369 µs, with 4 1,007 µs, with 8 775 µs
-- (docs/decisions/0003, "Purchases batched per statement").
--
-- stockline_transactions_purchase_batch_v1 takes the purchases that a process received
-- while its previous batch was in the database (inventory/purchase_batch.py), each with
-- its kiosk token's hash, Idempotency-Key and request hash, and its lines flattened
-- (p_line_purchase[i] says whose line i is, lines in basket order). It answers a JSON
-- array in input order, each element what one purchase would have answered alone:
--   {outcome: created, answer} | {outcome: replay, answer} | {outcome: conflict}
--   | {outcome: refused, sqlstate: SL404 | SL422, message} | {outcome: unauthenticated}
-- Per purchase it does what stockline_transactions_purchase_v1 does, in the same order:
-- 1. the kiosk by token hash (enabled only), as insert_purchase_by_kiosk_token;
-- 2. claim the Idempotency-Keys; a key already taken answers replay or conflict;
-- 3. lock the open purchases' products in id order and read them by key;
-- 4. refuse a purchase with an unknown (SL404) or inactive (SL422) product, with the
--    same message; its claimed key is deleted, as its rollback would have undone it;
-- 5. write the others: transactions, lines, ledger rows (one INSERT, so the ledger
--    trigger runs once for the batch; rows in purchase, then line order), answers.
-- The caller never puts one kiosk's key twice in a batch. Anything else that fails
-- (a deadlock, a guard, a lock waited for longer than 250 ms) rolls the whole batch
-- back, and the caller then runs each purchase alone.

CREATE FUNCTION stockline_transactions_purchase_batch_v1(
    p_token_hashes bytea[], p_keys text[], p_hashes bytea[],
    p_line_purchase integer[], p_product_ids bigint[], p_quantities integer[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_n        integer := cardinality(p_token_hashes);
    v_kiosk    bigint[];
    v_claimed  boolean[];
    v_outcome  jsonb[];
    v_open     integer[];
    v_found    record;
    v_refused  integer[];
    v_refusals jsonb[];
    v_live     integer[];
    v_tx       bigint[];
    v_tracking boolean;
BEGIN
    -- 1. each purchase's kiosk (null: no enabled kiosk has that token)
    SELECT array_agg(k.id ORDER BY g.i) INTO v_kiosk
      FROM generate_series(1, v_n) g(i)
      LEFT JOIN kiosks k ON k.token_hash = p_token_hashes[g.i] AND NOT k.disabled;

    -- 2. claim the keys
    WITH claimed AS (
        INSERT INTO idempotency_keys (scope, key, request_hash)
        SELECT 'kiosk:' || v_kiosk[g.i], p_keys[g.i], p_hashes[g.i]
          FROM generate_series(1, v_n) g(i)
         WHERE v_kiosk[g.i] IS NOT NULL AND p_keys[g.i] IS NOT NULL
         -- in key order: two batches never wait for two keys in opposite orders
         ORDER BY 'kiosk:' || v_kiosk[g.i], p_keys[g.i]
        ON CONFLICT (scope, key) DO NOTHING
        RETURNING scope, key
    )
    SELECT array_agg(p_keys[g.i] IS NULL OR EXISTS (
               SELECT 1 FROM claimed c
                WHERE c.scope = 'kiosk:' || v_kiosk[g.i] AND c.key = p_keys[g.i])
           ORDER BY g.i)
      INTO v_claimed FROM generate_series(1, v_n) g(i);

    SELECT array_agg(CASE
               WHEN v_kiosk[g.i] IS NULL THEN jsonb_build_object('outcome', 'unauthenticated')
               WHEN NOT v_claimed[g.i] THEN COALESCE((
                   SELECT CASE WHEN k.request_hash <> p_hashes[g.i]
                               THEN jsonb_build_object('outcome', 'conflict')
                               ELSE jsonb_build_object('outcome', 'replay', 'answer', k.response)
                          END
                     FROM idempotency_keys k
                    WHERE k.scope = 'kiosk:' || v_kiosk[g.i] AND k.key = p_keys[g.i]),
                   -- the key's row went (pruned) between the claim and this read: never
                   -- buy without holding the key
                   jsonb_build_object('outcome', 'conflict'))
           END ORDER BY g.i)
      INTO v_outcome FROM generate_series(1, v_n) g(i);
    SELECT array_agg(g.i ORDER BY g.i) INTO v_open
      FROM generate_series(1, v_n) g(i) WHERE v_outcome[g.i] IS NULL;
    IF v_open IS NULL THEN
        RETURN to_jsonb(v_outcome);
    END IF;

    -- 3. lock and read the open purchases' products in id order, each by its primary key
    SELECT array_agg(p.id) AS ids, array_agg(p.price_cents) AS prices,
           array_agg(p.active) AS active,
           array_agg((SELECT s.tracking_enabled FROM inventory_snapshot s
                       WHERE s.product_id = p.id)) AS tracked
      INTO v_found
      FROM (SELECT id, price_cents, active FROM products
             WHERE id = ANY(ARRAY(SELECT u.product_id
                                    FROM unnest(p_line_purchase, p_product_ids)
                                         AS u(purchase, product_id)
                                   WHERE u.purchase = ANY(v_open)))
             ORDER BY id FOR UPDATE) p;
    -- read under the product locks, as the single purchase does: a global switch turned
    -- on meanwhile (0007's trigger takes these locks) is seen here
    v_tracking := stockline_tracking_global_enabled();

    -- 4. refuse what one purchase alone would refuse, with its message
    WITH l AS (
        SELECT u.purchase, u.product_id, array_position(v_found.ids, u.product_id) AS n
          FROM unnest(p_line_purchase, p_product_ids) AS u(purchase, product_id)
         WHERE u.purchase = ANY(v_open)
    ), per AS (
        SELECT purchase,
               string_agg(DISTINCT product_id::text, ', ') FILTER (WHERE n IS NULL) AS missing,
               string_agg(DISTINCT product_id::text, ', ')
                   FILTER (WHERE NOT v_found.active[n]) AS inactive
          FROM l GROUP BY purchase
    ), refused AS (
        SELECT purchase, CASE
                   WHEN missing IS NOT NULL THEN jsonb_build_object(
                       'outcome', 'refused', 'sqlstate', 'SL404',
                       'message', 'unknown product id(s): ' || missing)
                   ELSE jsonb_build_object(
                       'outcome', 'refused', 'sqlstate', 'SL422',
                       'message', 'product(s) not for sale: ' || inactive)
               END AS outcome
          FROM per WHERE missing IS NOT NULL OR inactive IS NOT NULL
    )
    SELECT array_agg(r.outcome ORDER BY g.i), array_agg(g.i ORDER BY g.i)
      INTO v_refusals, v_refused
      FROM generate_series(1, v_n) g(i) JOIN refused r ON r.purchase = g.i;
    IF v_refused IS NOT NULL THEN
        FOR i IN 1 .. cardinality(v_refused) LOOP
            v_outcome[v_refused[i]] := v_refusals[i];
        END LOOP;
        -- a refused purchase keeps no key, as its rollback would have undone the claim
        DELETE FROM idempotency_keys k USING unnest(v_refused) AS r(i)
         WHERE p_keys[r.i] IS NOT NULL
           AND k.scope = 'kiosk:' || v_kiosk[r.i] AND k.key = p_keys[r.i];
    END IF;
    SELECT array_agg(o.i ORDER BY o.i) INTO v_live
      FROM unnest(v_open) AS o(i) WHERE v_outcome[o.i] IS NULL;
    IF v_live IS NULL THEN
        RETURN to_jsonb(v_outcome);
    END IF;

    -- 5. write the live purchases, in input order
    SELECT array_agg(CASE WHEN v_outcome[g.i] IS NULL
                          THEN nextval(pg_get_serial_sequence('transactions', 'id')) END
                     ORDER BY g.i)
      INTO v_tx FROM generate_series(1, v_n) g(i);
    WITH l AS (
        SELECT u.purchase, u.product_id, u.quantity, u.ord,
               row_number() OVER (PARTITION BY u.purchase ORDER BY u.ord)::integer AS line_no,
               v_found.prices[array_position(v_found.ids, u.product_id)] AS price,
               v_tracking AND v_found.tracked[array_position(v_found.ids, u.product_id)]
                   AS tracked
          FROM unnest(p_line_purchase, p_product_ids, p_quantities) WITH ORDINALITY
               AS u(purchase, product_id, quantity, ord)
         WHERE u.purchase = ANY(v_live)
    ), tx AS (
        INSERT INTO transactions (id, kiosk_id, total_cents, idempotency_key)
        OVERRIDING SYSTEM VALUE
        SELECT v_tx[o.i], v_kiosk[o.i],
               (SELECT sum(l.price * l.quantity) FROM l WHERE l.purchase = o.i), p_keys[o.i]
          FROM unnest(v_live) AS o(i) ORDER BY o.i
        RETURNING id, total_cents, created_at
    ), items AS (
        INSERT INTO transaction_items (transaction_id, line_no, product_id, quantity,
                                       unit_price_cents)
        SELECT v_tx[l.purchase], l.line_no, l.product_id, l.quantity, l.price
          FROM l JOIN tx ON tx.id = v_tx[l.purchase]  -- after its transaction row
         ORDER BY l.ord
        RETURNING transaction_id, line_no, product_id, quantity, unit_price_cents
    ), ledger AS (
        INSERT INTO inventory_ledger (product_id, delta, source, transaction_id)
        SELECT l.product_id, -l.quantity, 'purchase', v_tx[l.purchase]
          FROM l JOIN tx ON tx.id = v_tx[l.purchase]
         WHERE l.tracked
         ORDER BY l.ord
        RETURNING 1
    ), answers AS (
        SELECT o.i, jsonb_build_object(
                   'transaction_id', tx.id, 'total_cents', tx.total_cents,
                   'items', (SELECT jsonb_agg(jsonb_build_object(
                                        'product_id', it.product_id, 'quantity', it.quantity,
                                        'unit_price_cents', it.unit_price_cents,
                                        'line_total_cents', it.unit_price_cents * it.quantity)
                                    ORDER BY it.line_no)
                               FROM items it WHERE it.transaction_id = tx.id),
                   'created_at', tx.created_at) AS answer
          FROM unnest(v_live) AS o(i) JOIN tx ON tx.id = v_tx[o.i]
    ), keys AS (
        UPDATE idempotency_keys k SET response = a.answer, transaction_id = v_tx[a.i]
          FROM answers a
         WHERE p_keys[a.i] IS NOT NULL
           AND k.scope = 'kiosk:' || v_kiosk[a.i] AND k.key = p_keys[a.i]
        RETURNING 1
    )
    SELECT array_agg(COALESCE(v_outcome[g.i],
                              jsonb_build_object('outcome', 'created', 'answer', a.answer))
                     ORDER BY g.i)
      INTO v_outcome
      FROM generate_series(1, v_n) g(i) LEFT JOIN answers a ON a.i = g.i;
    RETURN to_jsonb(v_outcome);
END $$;
-- as the single purchase (0023, 0026): generic plans, every read by key
-- and a batch waits for a lock at most 250 ms (a row held by a long transaction
-- elsewhere): then it rolls back (55P03) and each of its purchases runs alone, so the
-- others are not held up by one product's lock
ALTER FUNCTION stockline_transactions_purchase_batch_v1(bytea[], text[], bytea[], integer[],
                                                        bigint[], integer[])
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
    SET lock_timeout = '250ms';
