-- name: select_ledger_rows_by_source
-- the ledger is append-only, so these counts only grow: a counter that survives restarts
SELECT source, count(*)::bigint AS n FROM inventory_ledger GROUP BY source;

-- name: select_stock_figures
-- one row per product in the snapshot: cheap at any ledger size
SELECT count(*) FILTER (WHERE s.low_stock_flag)::bigint AS low,
       count(*) FILTER (WHERE s.negative_flag)::bigint AS negative,
       count(*)::bigint AS products
  FROM inventory_snapshot s JOIN products p ON p.id = s.product_id
 WHERE p.active;

-- name: select_oldest_pending_age
-- how long the oldest notification not yet sent or failed has waited (0: none waits)
SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS seconds
  FROM email_notification_log
 WHERE status IN ('pending', 'retrying', 'sending');

-- name: select_worker_lock_holders
-- sessions holding the mail worker's advisory lock (S-8): 1 is healthy, 0 is nobody
-- dispatching, whichever instance is asked
SELECT count(*)::bigint AS n FROM pg_locks
 WHERE locktype = 'advisory' AND granted
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND classid = %(classid)s::bigint::oid AND objid = %(objid)s::bigint::oid AND objsubid = 1;
