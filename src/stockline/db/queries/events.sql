-- name: select_stream_position
-- the newest committed event id: the counter row is updated in the emitting
-- transaction, so a snapshot that sees last_id = n sees every event <= n
SELECT last_id, pruned_through FROM inventory_event_counter;

-- name: select_events_after
-- one batch of the stream after a position, and the retention watermark in the
-- same statement snapshot: if pruned_through <= after, no row of the batch is missing
WITH c AS (SELECT last_id, pruned_through FROM inventory_event_counter)
SELECT c.last_id, c.pruned_through, e.id, e.type, e.payload::text AS data
  FROM c
  LEFT JOIN LATERAL (
        SELECT id, type, payload FROM inventory_events
         WHERE id > %(after)s AND id <= %(upto)s
         ORDER BY id
         LIMIT %(limit)s) e ON true
 ORDER BY e.id;

-- name: update_event_positions
-- number every committed event that has no position yet (migration 0009)
SELECT positioned, last_id, ran, waiting, oldest_seconds
  FROM stockline_inventory_events_position_v1(%(wait_ms)s);

-- name: lock_event_state
-- the `snapshot` event: no positioner (advisory lock) and no decision-0001 writer (the
-- counter row) may commit positions while its state is read; bounded by lock_timeout
SELECT 1 FROM inventory_event_counter
 WHERE pg_advisory_xact_lock(stockline_inventory_events_lock_key()) IS NOT NULL
   FOR NO KEY UPDATE;

-- name: set_numbering_plan
-- for select_positioned_state, as stockline_inventory_events_number_locked does (migration
-- 0019): a bitmap scan of the work list never marks numbered rows' entries dead, and a
-- hash join by row address reads the whole table
SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true);

-- name: select_positioned_state
-- after lock_event_state, one statement, so one snapshot: number what it sees committed,
-- then read every product's snapshot. The inventory then reflects exactly the events up
-- to the position returned (the `snapshot` and `reset` events)
-- (run after set_numbering_plan: rows by address, the work list by a plain index scan
-- from the floor, migration 0022; it leaves the floor where it is, which is always safe)
WITH todo AS (
    SELECT ctid AS row_address, row_number() OVER (ORDER BY tx, seq) AS n
      FROM inventory_events WHERE id IS NULL AND tx >= stockline_inventory_events_floor()
), base AS (
    SELECT last_id, pruned_through FROM inventory_event_counter
), numbered AS (
    UPDATE inventory_events e SET id = base.last_id + todo.n
      FROM todo, base WHERE e.ctid = todo.row_address
    RETURNING e.id
), moved AS (
    -- writing the row makes the floor untrusted (migration 0024): the next positioner
    -- run reads its work list from the start once and stores a new one
    UPDATE inventory_event_counter c SET last_id = c.last_id + (SELECT count(*) FROM numbered)
     WHERE EXISTS (SELECT 1 FROM todo)
    RETURNING c.last_id
)
SELECT COALESCE((SELECT last_id FROM moved), base.last_id) AS last_id,
       base.pruned_through,
       (SELECT count(*) FROM todo) AS positioned,
       (SELECT COALESCE(json_agg(json_build_object(
           'product_id', s.product_id,
           'sku', p.sku,
           'name', p.name,
           'low_stock_threshold', p.low_stock_threshold,
           'current_stock', s.current_stock,
           'low_stock_flag', s.low_stock_flag,
           'negative_flag', s.negative_flag,
           'tracking_enabled', s.tracking_enabled,
           'tracking_effective', s.tracking_enabled AND stockline_tracking_global_enabled(),
           'last_activity_at', s.last_activity_at) ORDER BY s.product_id), '[]')::jsonb::text
          FROM inventory_snapshot s JOIN products p ON p.id = s.product_id) AS inventory
  FROM base;

-- name: notify_events
-- the doorbell for events numbered outside the positioner function
SELECT pg_notify('inventory_events', '');

-- name: lock_prune
-- one pruner at a time across every process and instance; released at commit
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: delete_expired_events
-- one bounded batch of events older than the retention window, oldest first
WITH cut AS (
    SELECT max(id) AS upto FROM (
        SELECT id FROM inventory_events
         WHERE created_at < now() - make_interval(secs => %(retention_seconds)s)
         ORDER BY id
         LIMIT %(limit)s) old
), gone AS (
    DELETE FROM inventory_events e USING cut WHERE e.id <= cut.upto RETURNING e.id
)
SELECT count(*) AS deleted, max(id) AS upto FROM gone;

-- name: update_pruned_through
-- the watermark moves in the deleting transaction: readers see both or neither
UPDATE inventory_event_counter SET pruned_through = GREATEST(pruned_through, %(upto)s)
RETURNING pruned_through;

-- name: set_lock_timeout
-- bounds lock_event_state's wait (a decision-0001 writer left open holds the counter row)
SELECT set_config('lock_timeout', %(ms)s::text || 'ms', true);
