-- name: insert_rejected_sale
-- A repeated report of the same sale (same kiosk, same key) changes nothing.
INSERT INTO kiosk_rejected_sales
       (kiosk_id, idempotency_key, items, total_cents, sold_at, refused_status, refused_detail)
VALUES (%(kiosk_id)s, %(idempotency_key)s, %(items)s, %(total_cents)s, %(sold_at)s,
        %(refused_status)s, %(refused_detail)s)
ON CONFLICT (kiosk_id, idempotency_key) DO NOTHING
RETURNING id;

-- name: select_rejected_sale_by_key
-- The stored row behind a repeated report.
SELECT r.id, r.kiosk_id, k.name AS kiosk_name, r.idempotency_key, r.items, r.total_cents,
       r.sold_at, r.refused_status, r.refused_detail, r.reported_at, r.resolved_at,
       r.resolved_by
  FROM kiosk_rejected_sales r
  JOIN kiosks k ON k.id = r.kiosk_id
 WHERE r.kiosk_id = %(kiosk_id)s AND r.idempotency_key = %(idempotency_key)s;

-- name: select_rejected_sales
-- Newest first; open ones only unless asked for all.
SELECT r.id, r.kiosk_id, k.name AS kiosk_name, r.idempotency_key, r.items, r.total_cents,
       r.sold_at, r.refused_status, r.refused_detail, r.reported_at, r.resolved_at,
       r.resolved_by
  FROM kiosk_rejected_sales r
  JOIN kiosks k ON k.id = r.kiosk_id
 WHERE %(include_resolved)s OR r.resolved_at IS NULL
 ORDER BY r.id DESC
 LIMIT %(limit)s;

-- name: update_rejected_sale_resolved
-- Staff have dealt with it (booked it by hand, or written it off); resolving twice keeps
-- the first time and person.
UPDATE kiosk_rejected_sales r
   SET resolved_at = COALESCE(r.resolved_at, now()),
       resolved_by = COALESCE(r.resolved_by, %(admin_id)s)
  FROM kiosks k
 WHERE r.id = %(id)s AND k.id = r.kiosk_id
RETURNING r.id, r.kiosk_id, k.name AS kiosk_name, r.idempotency_key, r.items, r.total_cents,
          r.sold_at, r.refused_status, r.refused_detail, r.reported_at, r.resolved_at,
          r.resolved_by;
