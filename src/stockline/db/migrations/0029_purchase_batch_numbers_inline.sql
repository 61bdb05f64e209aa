-- A batch of kiosk purchases numbers its events in its own transaction when nobody else
-- is numbering, and its NOTIFY carries the events it numbered (issue 11).
--
-- Measured at 8 HTTP clients (serve --workers 2, PostgreSQL 18, 2 cores): per purchase
-- the service ran 0.5 batch statements, 0.25 positioner rounds (a transaction and a WAL
-- flush each) and 0.4-0.5 feed reads (every process reads every round's events back from
-- the table after its NOTIFY). Without the rounds and the reads a purchase cost a third
-- less CPU (docs/decisions/0003, "Numbered in the batch").
--
-- stockline_inventory_events_number_inline_v1 is the inline path of migration 0017's
-- purchase procedure, for a caller whose transaction has just written events:
-- - it takes the positioner lock and the counter row only if both are free (no wait:
--   no deadlock with a decision-0001 writer holding the row while it wants a product
--   row this transaction holds), and then keeps them through its caller's COMMIT, so no
--   other positioner commits positions meanwhile and the next one starts after this
--   commit is visible (0017);
-- - it numbers, in a statement of its own (a snapshot taken with both locks held),
--   everything committed without a position and its own transaction's events;
-- - it rings NOTIFY inventory_events once, with the events it numbered as the payload:
--   'events/1 FIRST LAST' then one line per event, "id TAB type TAB payload", ids
--   FIRST..LAST ascending and consecutive. jsonb text has no raw newline or tab (JSON
--   escapes them in strings); a reader checks the ids against the header.
--   A payload that would not fit NOTIFY's 8,000 bytes is sent empty: a doorbell, and
--   listeners read the table as before. So is every payload while the cluster's NOTIFY
--   queue is more than 1 % full (80 MB of its 8 GB): a listener that stopped reading (a
--   frozen process, a session idle in a transaction after LISTEN) holds the queue's
--   tail, and a full queue fails every COMMIT that notifies. Payloads 40 times the size
--   of a doorbell must not bring that day closer. NOTIFY is delivered in commit order,
--   and the lock held through COMMIT makes that position order;
-- - it answers NULL when it did not number (the lock or the row was taken: the caller
--   rings a positioner round as before), else the payload it sent ('' when none). When
--   the queue is more than half full it does not number either: a full queue fails the
--   COMMIT of every transaction that notifies, and a purchase must not fail for the
--   stream's sake (its events wait for a round, whose own NOTIFY may fail harmlessly).
--   The advisory lock, once taken, is held to COMMIT even when the row was taken (a
--   transaction-level lock cannot be let go), as in 0017.
CREATE FUNCTION stockline_inventory_events_number_inline_v1() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_total   bigint;
    v_last    bigint;
    v_payload text := '';
BEGIN
    IF pg_notification_queue_usage() > 0.5
       OR NOT pg_try_advisory_xact_lock(stockline_inventory_events_lock_key()) THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM inventory_event_counter FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_total := stockline_inventory_events_number_locked();
    IF v_total > 0 THEN
        SELECT c.last_id INTO v_last FROM inventory_event_counter c;
        SELECT format('events/1 %s %s', v_last - v_total + 1, v_last) || E'\n'
               || string_agg(e.id::text || E'\t' || e.type || E'\t' || e.payload::text,
                             E'\n' ORDER BY e.id)
          INTO v_payload
          FROM inventory_events e
         WHERE e.id > v_last - v_total AND e.id <= v_last;
        IF octet_length(v_payload) >= 8000 OR pg_notification_queue_usage() > 0.01 THEN
            v_payload := '';
        END IF;
        PERFORM pg_notify('inventory_events', v_payload);
    END IF;
    RETURN v_payload;
END $$;

-- 0028's batch, then the inline numbering when it bought anything:
--   {"outcomes": <0028's array>, "numbered": true | false | null}
-- true: numbered in this transaction, with everything committed before it; false: some
-- purchase was created and its events wait for a positioner round; null: nothing was
-- created, nothing was numbered (replays, refusals only).
CREATE FUNCTION stockline_transactions_purchase_batch_v2(
    p_token_hashes bytea[], p_keys text[], p_hashes bytea[],
    p_line_purchase integer[], p_product_ids bigint[], p_quantities integer[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_outcomes jsonb;
    v_numbered boolean;  -- null: nothing bought
BEGIN
    v_outcomes := stockline_transactions_purchase_batch_v1(
        p_token_hashes, p_keys, p_hashes, p_line_purchase, p_product_ids, p_quantities);
    IF jsonb_path_exists(v_outcomes, '$[*] ? (@.outcome == "created")') THEN
        v_numbered := stockline_inventory_events_number_inline_v1() IS NOT NULL;
    END IF;
    RETURN jsonb_build_object('outcomes', v_outcomes, 'numbered', v_numbered);
END $$;
