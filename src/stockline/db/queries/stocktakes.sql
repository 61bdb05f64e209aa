-- name: insert_stocktake
INSERT INTO stocktakes (note, created_by) VALUES (%(note)s, %(admin_id)s) RETURNING id;

-- name: select_unknown_products
-- requested ids that name no product (the whole request is refused)
SELECT id FROM unnest(%(ids)s::bigint[]) AS r(id)
 WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = r.id)
 ORDER BY id;

-- name: select_open_counts
-- products of the request that another open stocktake already counts
SELECT l.product_id, l.stocktake_id
  FROM stocktake_lines l
 WHERE l.open
   AND (%(ids)s::bigint[] IS NULL AND l.product_id IN (SELECT id FROM products WHERE active)
        OR l.product_id = ANY(%(ids)s::bigint[]))
 ORDER BY l.product_id;

-- name: insert_stocktake_lines
-- the listed products, or every active one
INSERT INTO stocktake_lines (stocktake_id, product_id)
SELECT %(stocktake_id)s, p.id FROM products p
 WHERE (%(ids)s::bigint[] IS NULL AND p.active) OR p.id = ANY(%(ids)s::bigint[])
 ORDER BY p.id;

-- name: select_stocktake
SELECT t.id, t.note, t.status, t.created_at, c.email AS created_by, t.closed_at,
       d.email AS closed_by
  FROM stocktakes t
  LEFT JOIN admins c ON c.id = t.created_by
  LEFT JOIN admins d ON d.id = t.closed_by
 WHERE t.id = %(stocktake_id)s;

-- name: select_stocktake_lines
SELECT l.product_id, p.sku, p.name, p.barcode, p.stock_quantity AS current_stock,
       l.counted_quantity, l.stock_at_count, a.email AS counted_by, l.counted_at,
       l.counted_quantity - l.stock_at_count AS delta, l.ledger_id
  FROM stocktake_lines l
  JOIN products p ON p.id = l.product_id
  LEFT JOIN admins a ON a.id = l.counted_by
 WHERE l.stocktake_id = %(stocktake_id)s
   AND (%(product_id)s::bigint IS NULL OR l.product_id = %(product_id)s)
 ORDER BY p.sku, p.id;

-- name: select_stocktakes
-- newest first, with how far each count got
SELECT t.id, t.note, t.status, t.created_at, c.email AS created_by, t.closed_at,
       (SELECT count(*) FROM stocktake_lines l WHERE l.stocktake_id = t.id) AS line_count,
       (SELECT count(*) FROM stocktake_lines l
         WHERE l.stocktake_id = t.id AND l.counted_quantity IS NOT NULL) AS counted_count
  FROM stocktakes t LEFT JOIN admins c ON c.id = t.created_by
 WHERE %(status)s::text IS NULL OR t.status = %(status)s
 ORDER BY t.id DESC
 LIMIT %(limit)s;

-- name: share_stocktake
-- a count waits for a commit in progress (and the commit for counts in progress)
SELECT status FROM stocktakes WHERE id = %(stocktake_id)s FOR SHARE;

-- name: lock_stocktake
SELECT status FROM stocktakes WHERE id = %(stocktake_id)s FOR UPDATE;

-- name: update_stocktake_line
-- the stock is read in the same statement as the count is stored: that is "the stock
-- when this line was counted"; later sales stay outside the delta
UPDATE stocktake_lines l
   SET counted_quantity = %(counted_quantity)s,
       stock_at_count = p.stock_quantity,
       counted_by = %(admin_id)s,
       counted_at = now()
  FROM products p
 WHERE l.stocktake_id = %(stocktake_id)s AND l.product_id = %(product_id)s
   AND p.id = l.product_id
RETURNING l.product_id;

-- name: lock_counted_products
-- in id order, like purchases, so a commit and a basket never deadlock
SELECT p.id FROM products p JOIN stocktake_lines l ON l.product_id = p.id
 WHERE l.stocktake_id = %(stocktake_id)s AND l.counted_quantity IS NOT NULL
 ORDER BY p.id
   FOR UPDATE OF p;

-- name: insert_stocktake_reconciliations
-- one reconciliation row per counted line whose count differs, by whoever counted it
WITH entries AS (
    INSERT INTO inventory_ledger (product_id, delta, source, reason, admin_id)
    SELECT l.product_id, l.counted_quantity - l.stock_at_count, 'reconciliation',
           %(reason)s, COALESCE(l.counted_by, %(admin_id)s)
      FROM stocktake_lines l
     WHERE l.stocktake_id = %(stocktake_id)s AND l.counted_quantity IS NOT NULL
       AND l.counted_quantity <> l.stock_at_count
     ORDER BY l.product_id
    RETURNING id, product_id, delta, source, reason, admin_id, transaction_id, created_at
), linked AS (
    UPDATE stocktake_lines l SET ledger_id = e.id
      FROM entries e
     WHERE l.stocktake_id = %(stocktake_id)s AND l.product_id = e.product_id
)
SELECT id, product_id, delta, source, reason, admin_id, transaction_id, created_at
  FROM entries ORDER BY id;

-- name: close_stocktake
UPDATE stocktakes SET status = %(status)s, closed_by = %(admin_id)s, closed_at = now()
 WHERE id = %(stocktake_id)s;

-- name: close_stocktake_lines
-- frees the products for the next count
UPDATE stocktake_lines SET open = false WHERE stocktake_id = %(stocktake_id)s;
