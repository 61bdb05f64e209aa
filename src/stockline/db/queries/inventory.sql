-- name: select_products
-- products joined with their snapshot, for listings
SELECT p.id, p.sku, p.name, p.price_cents, p.low_stock_threshold, p.active, p.stock_quantity,
       p.category, p.barcode, p.created_at, p.updated_at,
       s.current_stock, s.low_stock_flag, s.negative_flag, s.tracking_enabled, s.last_activity_at,
       z.until AS snooze_until, z.until_restocked AS snooze_until_restocked,
       z.created_at AS snoozed_at
  FROM products p JOIN inventory_snapshot s ON s.product_id = p.id
  LEFT JOIN product_snoozes z ON z.product_id = p.id AND (z.until IS NULL OR z.until > now())
 WHERE (%(active)s::boolean IS NULL OR p.active = %(active)s)
 ORDER BY p.id;

-- name: select_product
SELECT p.id, p.sku, p.name, p.price_cents, p.low_stock_threshold, p.active, p.stock_quantity,
       p.category, p.barcode, p.created_at, p.updated_at,
       s.current_stock, s.low_stock_flag, s.negative_flag, s.tracking_enabled, s.last_activity_at,
       z.until AS snooze_until, z.until_restocked AS snooze_until_restocked,
       z.created_at AS snoozed_at
  FROM products p JOIN inventory_snapshot s ON s.product_id = p.id
  LEFT JOIN product_snoozes z ON z.product_id = p.id AND (z.until IS NULL OR z.until > now())
 WHERE p.id = %(product_id)s;

-- name: insert_product
-- the products trigger creates the snapshot row; stock arrives through the ledger
INSERT INTO products (sku, name, price_cents, low_stock_threshold, active, category, barcode)
VALUES (%(sku)s, %(name)s, %(price_cents)s, %(low_stock_threshold)s, %(active)s, %(category)s,
        %(barcode)s)
RETURNING id;

-- name: refresh_snapshot
-- computes the flags of a product whose stock did not move (S-3 at creation)
SELECT stockline_inventory_snapshot_refresh(%(product_id)s, NULL, NULL, NULL);

-- name: lock_product
-- every path that touches a snapshot locks the product row first (lock order)
SELECT id FROM products WHERE id = %(product_id)s FOR UPDATE;

-- name: update_product
-- updated_at moves only when a value does: an empty PATCH, or one that repeats the
-- current values, changes nothing (the right-hand sides read the row before the update)
UPDATE products
   SET name = COALESCE(%(name)s, name),
       price_cents = COALESCE(%(price_cents)s, price_cents),
       low_stock_threshold = CASE WHEN %(set_threshold)s THEN %(low_stock_threshold)s
                                  ELSE low_stock_threshold END,
       active = COALESCE(%(active)s, active),
       category = CASE WHEN %(set_category)s THEN %(category)s ELSE category END,
       barcode = CASE WHEN %(set_barcode)s THEN %(barcode)s ELSE barcode END,
       updated_at = CASE
           WHEN (COALESCE(%(name)s, name),
                 COALESCE(%(price_cents)s, price_cents),
                 CASE WHEN %(set_threshold)s THEN %(low_stock_threshold)s
                      ELSE low_stock_threshold END,
                 COALESCE(%(active)s, active),
                 CASE WHEN %(set_category)s THEN %(category)s ELSE category END,
                 CASE WHEN %(set_barcode)s THEN %(barcode)s ELSE barcode END)
                IS DISTINCT FROM
                (name, price_cents, low_stock_threshold, active, category, barcode)
           THEN now() ELSE updated_at END
 WHERE id = %(product_id)s
RETURNING id;

-- name: select_snapshots
SELECT s.product_id, p.sku, p.name, p.low_stock_threshold, s.current_stock, s.low_stock_flag,
       s.negative_flag, s.tracking_enabled, s.last_activity_at,
       z.until AS snooze_until, z.until_restocked AS snooze_until_restocked,
       z.created_at AS snoozed_at
  FROM inventory_snapshot s JOIN products p ON p.id = s.product_id
  -- an expired snooze is no snooze (SPEC §7.4)
  LEFT JOIN product_snoozes z ON z.product_id = p.id AND (z.until IS NULL OR z.until > now())
 WHERE (NOT %(low)s OR s.low_stock_flag) AND (NOT %(negative)s OR s.negative_flag)
 ORDER BY s.product_id;

-- name: select_snapshot
SELECT s.product_id, p.sku, p.name, p.low_stock_threshold, s.current_stock, s.low_stock_flag,
       s.negative_flag, s.tracking_enabled, s.last_activity_at,
       z.until AS snooze_until, z.until_restocked AS snooze_until_restocked,
       z.created_at AS snoozed_at
  FROM inventory_snapshot s JOIN products p ON p.id = s.product_id
  -- an expired snooze is no snooze (SPEC §7.4)
  LEFT JOIN product_snoozes z ON z.product_id = p.id AND (z.until IS NULL OR z.until > now())
 WHERE s.product_id = %(product_id)s;

-- name: insert_ledger_entry
INSERT INTO inventory_ledger (product_id, delta, source, reason, admin_id, transaction_id)
VALUES (%(product_id)s, %(delta)s, %(source)s, %(reason)s, %(admin_id)s, %(transaction_id)s)
RETURNING id, product_id, delta, source, reason, admin_id, transaction_id, created_at;

-- name: select_ledger_page
-- newest first; before_id pages backwards through history. Who: the admin's email, or the
-- kiosk of the purchase. balance_after = stock right after the row = current stock minus
-- every later move (S-1: stock_quantity = SUM(delta)), from one snapshot.
WITH page AS (
    SELECT id, product_id, delta, source, reason, admin_id, transaction_id, created_at
      FROM inventory_ledger
     WHERE product_id = %(product_id)s AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
     ORDER BY id DESC
     LIMIT %(limit)s
), later AS (
    SELECT COALESCE(sum(delta), 0) AS moved
      FROM inventory_ledger
     WHERE product_id = %(product_id)s AND id >= %(before_id)s::bigint
)
SELECT g.id, g.product_id, g.delta, g.source, g.reason, g.admin_id, g.transaction_id,
       g.created_at,
       COALESCE(a.email, k.name) AS actor,
       CASE WHEN a.id IS NOT NULL THEN 'admin' WHEN k.id IS NOT NULL THEN 'kiosk' END
           AS actor_kind,
       p.stock_quantity - later.moved
           - COALESCE(sum(g.delta) OVER (ORDER BY g.id DESC
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
           AS balance_after
  FROM page g
  JOIN products p ON p.id = g.product_id
 CROSS JOIN later
  LEFT JOIN admins a ON a.id = g.admin_id
  LEFT JOIN transactions t ON t.id = g.transaction_id
  LEFT JOIN kiosks k ON k.id = t.kiosk_id
 ORDER BY g.id DESC;

-- name: select_ledger_export
SELECT l.id, l.product_id, p.sku, l.delta, l.source, l.reason, l.admin_id, l.transaction_id,
       l.created_at
  FROM inventory_ledger l JOIN products p ON p.id = l.product_id
 WHERE (%(product_id)s::bigint IS NULL OR l.product_id = %(product_id)s)
   AND (%(from)s::timestamptz IS NULL OR l.created_at >= %(from)s)
   AND (%(to)s::timestamptz IS NULL OR l.created_at < %(to)s)
 ORDER BY l.id;

-- name: update_product_tracking
UPDATE inventory_snapshot SET tracking_enabled = %(enabled)s
 WHERE product_id = %(product_id)s
RETURNING product_id, tracking_enabled;

-- name: insert_event
SELECT stockline_inventory_events_emit(%(type)s, %(payload)s::jsonb) AS id;

-- name: delete_expired_idempotency_keys
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %(hours)s);

-- name: select_global_tracking
SELECT stockline_tracking_global_enabled() AS on;

-- name: insert_purchase
-- the whole purchase in one round trip (migration 0004 explains the steps), committed on
-- return (pool connections are autocommit); its events are numbered after it, by the
-- process's next numbering round (events/positions.py)
SELECT stockline_transactions_purchase_v1(%(scope)s, %(key)s, %(hash)s, %(kiosk_id)s,
                                          %(product_ids)s::bigint[], %(quantities)s::int[])
       AS result;

-- name: insert_purchase_by_kiosk_token
-- insert_purchase for the enabled kiosk with this token, looked up in the same statement
-- (as auth.sql select_kiosk_by_token does); no row when there is none, nothing written
SELECT stockline_transactions_purchase_v1('kiosk:' || k.id, %(key)s, %(hash)s, k.id,
                                          %(product_ids)s::bigint[], %(quantities)s::int[])
       AS result
  FROM kiosks k
 WHERE k.token_hash = %(token_hash)s AND NOT k.disabled;

-- name: insert_purchase_batch
-- kiosk purchases that arrived together, in one statement and one COMMIT (migrations 0028
-- and 0029, inventory/purchase_batch.py): a JSON object, "outcomes" (each one's outcome
-- in order) and "numbered" (whether their events were numbered in the same transaction)
SELECT stockline_transactions_purchase_batch_v2(
           %(token_hashes)s::bytea[], %(keys)s::text[], %(hashes)s::bytea[],
           %(owners)s::int[], %(product_ids)s::bigint[], %(quantities)s::int[]) AS result;

-- name: select_products_page
-- the portal's sortable, filtered, paged list. One static statement: each sort key is a
-- CASE that is NULL unless chosen, so no SQL is built from input. SKUs sort naturally
-- (BULK-2 before BULK-10, the stored key of migration 0014); the id breaks every tie, so
-- pages never overlap.
SELECT p.id, p.sku, p.name, p.price_cents, p.low_stock_threshold, p.active, p.stock_quantity,
       p.category, p.barcode, p.created_at, p.updated_at,
       s.current_stock, s.low_stock_flag, s.negative_flag, s.tracking_enabled, s.last_activity_at
  FROM products p JOIN inventory_snapshot s ON s.product_id = p.id
 WHERE (%(active)s::boolean IS NULL OR p.active = %(active)s)
   AND (%(category)s::text IS NULL OR p.category = %(category)s)
   AND (%(pattern)s::text IS NULL OR p.sku ILIKE %(pattern)s OR p.name ILIKE %(pattern)s
        OR p.barcode ILIKE %(pattern)s)
 ORDER BY
       CASE WHEN %(sort)s = 'sku' THEN p.sku_sort_key END ASC,
       CASE WHEN %(sort)s = '-sku' THEN p.sku_sort_key END DESC,
       CASE WHEN %(sort)s = 'name' THEN lower(p.name) END COLLATE "C" ASC,
       CASE WHEN %(sort)s = '-name' THEN lower(p.name) END COLLATE "C" DESC,
       CASE WHEN %(sort)s = 'category' THEN lower(p.category) END COLLATE "C" ASC NULLS LAST,
       CASE WHEN %(sort)s = '-category' THEN lower(p.category) END COLLATE "C" DESC NULLS LAST,
       CASE WHEN %(sort)s = 'price_cents' THEN p.price_cents END ASC,
       CASE WHEN %(sort)s = '-price_cents' THEN p.price_cents END DESC,
       CASE WHEN %(sort)s = 'current_stock' THEN s.current_stock END ASC,
       CASE WHEN %(sort)s = '-current_stock' THEN s.current_stock END DESC,
       CASE WHEN %(sort)s = 'low_stock_threshold' THEN p.low_stock_threshold END ASC NULLS LAST,
       CASE WHEN %(sort)s = '-low_stock_threshold' THEN p.low_stock_threshold END
           DESC NULLS LAST,
       CASE WHEN %(sort)s = 'created_at' THEN p.created_at END ASC,
       CASE WHEN %(sort)s = '-created_at' THEN p.created_at END DESC,
       CASE WHEN %(sort)s = '-id' THEN p.id END DESC,
       p.id ASC
 LIMIT %(limit)s OFFSET %(offset)s;

-- name: select_products_count
-- how many match the page's filters (X-Total-Count)
SELECT count(*) AS n
  FROM products p
 WHERE (%(active)s::boolean IS NULL OR p.active = %(active)s)
   AND (%(category)s::text IS NULL OR p.category = %(category)s)
   AND (%(pattern)s::text IS NULL OR p.sku ILIKE %(pattern)s OR p.name ILIKE %(pattern)s
        OR p.barcode ILIKE %(pattern)s);

-- name: lock_products_by_id
-- a bulk action locks its products in id order, like a purchase (never a deadlock)
SELECT id FROM products WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR UPDATE;

-- name: insert_bulk_adjustments
-- one manual_adjustment row per product, each its own ledger row
INSERT INTO inventory_ledger (product_id, delta, source, reason, admin_id)
SELECT id, %(delta)s, 'manual_adjustment', %(reason)s, %(admin_id)s
  FROM unnest(%(ids)s::bigint[]) AS r(id)
 ORDER BY id
RETURNING id, product_id, delta, source, reason, admin_id, transaction_id, created_at;

-- name: update_bulk_threshold
-- only rows whose threshold changes, so the breach trigger runs where it means something
UPDATE products SET low_stock_threshold = %(low_stock_threshold)s::int, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[])
   AND low_stock_threshold IS DISTINCT FROM %(low_stock_threshold)s::int;

-- name: update_bulk_active
UPDATE products SET active = %(active)s, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND active <> %(active)s;

-- name: select_products_by_ids
SELECT p.id, p.sku, p.name, p.price_cents, p.low_stock_threshold, p.active, p.stock_quantity,
       p.category, p.barcode, p.created_at, p.updated_at,
       s.current_stock, s.low_stock_flag, s.negative_flag, s.tracking_enabled, s.last_activity_at
  FROM products p JOIN inventory_snapshot s ON s.product_id = p.id
 WHERE p.id = ANY(%(ids)s::bigint[])
 ORDER BY p.id;
