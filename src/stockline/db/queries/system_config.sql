-- name: select_config
SELECT key, value FROM system_config
 WHERE key IN ('notification_recipients', 'inventory_tracking_enabled', 'notification_digest',
               'notification_webhooks');

-- name: lock_tracking
-- serialises concurrent toggles so exactly one tracking-toggled event per change
SELECT value FROM system_config WHERE key = 'inventory_tracking_enabled' FOR UPDATE;

-- name: upsert_config
INSERT INTO system_config (key, value, updated_at, updated_by)
VALUES (%(key)s, %(value)s, now(), %(admin_id)s)
ON CONFLICT (key) DO UPDATE
   SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by;

-- name: insert_event
SELECT stockline_inventory_events_emit(%(type)s, %(payload)s::jsonb) AS id;
