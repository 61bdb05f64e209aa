-- The purchase has committed before its events are numbered (migration 0011), so a
-- failure of the numbering must not turn into an error for the kiosk: the answer is the
-- purchase's, `numbered` says false, and the positioner timer numbers the events later.
CREATE OR REPLACE PROCEDURE stockline_transactions_purchase_v2(
    p_scope text, p_key text, p_hash bytea, p_kiosk_id bigint,
    p_product_ids bigint[], p_quantities integer[], p_wait_ms integer,
    INOUT result jsonb DEFAULT NULL
) LANGUAGE plpgsql AS $$
BEGIN
    result := stockline_transactions_purchase_v1(p_scope, p_key, p_hash, p_kiosk_id,
                                                 p_product_ids, p_quantities);
    COMMIT;
    IF result->>'outcome' = 'created' THEN
        BEGIN
            result := result || jsonb_build_object('numbered',
                (SELECT ran FROM stockline_inventory_events_position_v1(p_wait_ms)));
        EXCEPTION WHEN OTHERS THEN
            result := result || jsonb_build_object('numbered', false);
        END;
    END IF;
END $$;
