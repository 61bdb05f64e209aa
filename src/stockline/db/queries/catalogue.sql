-- name: select_products_by_sku
-- what an import would change, for a dry run (reads only, locks nothing)
SELECT id, sku, name, price_cents, low_stock_threshold, category, barcode
  FROM products WHERE sku = ANY(%(skus)s::text[])
 ORDER BY id;

-- name: lock_products_by_sku
-- the rows an import updates, locked in id order like every purchase (no deadlock)
SELECT id, sku, name, price_cents, low_stock_threshold, category, barcode
  FROM products WHERE sku = ANY(%(skus)s::text[])
 ORDER BY id
   FOR UPDATE;

-- name: select_barcode_owners
-- products that hold a barcode the file gives out
SELECT sku, barcode FROM products WHERE barcode = ANY(%(barcodes)s::text[]);

-- name: clear_moving_barcodes
-- the unique index is checked row by row, so barcodes that move between products in one
-- file are taken off first (validation already proved the final state unique)
UPDATE products SET barcode = NULL
 WHERE id = ANY(%(ids)s::bigint[]) AND barcode IS NOT NULL;

-- name: update_imported_products
-- absent optional columns leave their values alone
UPDATE products p
   SET name = r.name,
       price_cents = r.price_cents,
       low_stock_threshold = CASE WHEN %(set_threshold)s THEN r.low_stock_threshold
                                  ELSE p.low_stock_threshold END,
       category = CASE WHEN %(set_category)s THEN r.category ELSE p.category END,
       barcode = CASE WHEN %(set_barcode)s THEN r.barcode ELSE p.barcode END,
       updated_at = now()
  FROM unnest(%(ids)s::bigint[], %(names)s::text[], %(prices)s::bigint[],
              %(thresholds)s::int[], %(categories)s::text[], %(barcodes)s::text[])
       AS r(id, name, price_cents, low_stock_threshold, category, barcode)
 WHERE p.id = r.id;

-- name: insert_imported_products
-- new products in file order; their trigger creates each snapshot
INSERT INTO products (sku, name, price_cents, low_stock_threshold, category, barcode)
SELECT sku, name, price_cents, low_stock_threshold, category, barcode
  FROM unnest(%(skus)s::text[], %(names)s::text[], %(prices)s::bigint[],
              %(thresholds)s::int[], %(categories)s::text[], %(barcodes)s::text[])
       WITH ORDINALITY AS r(sku, name, price_cents, low_stock_threshold, category, barcode, n)
 ORDER BY n
RETURNING id, sku;

-- name: insert_initial_stock
-- initial stock of new products only: one `system` row each, as POST /api/products does
INSERT INTO inventory_ledger (product_id, delta, source, reason, admin_id)
SELECT id, quantity, 'system', 'initial stock (import)', %(admin_id)s
  FROM unnest(%(ids)s::bigint[], %(quantities)s::int[]) AS r(id, quantity)
 ORDER BY id;

-- name: refresh_imported_snapshots
-- flags of new products without stock (S-3: a threshold of 0 or more is already low)
SELECT stockline_inventory_snapshot_refresh(id, NULL, NULL, NULL)
  FROM unnest(%(ids)s::bigint[]) AS r(id)
 ORDER BY id;

