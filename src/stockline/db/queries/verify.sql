-- name: select_product_count
SELECT count(*) AS n FROM products;

-- name: select_next_batch
-- the next `batch` products by id: its last id and how many (ids have gaps, so progress
-- counts products, not ids)
SELECT max(id) AS hi, count(*) AS n
  FROM (SELECT id FROM products WHERE id >= %(lo)s ORDER BY id LIMIT %(batch)s) b;

-- name: select_mismatches
-- S-1/S-2/S-3 for one id range: stock, snapshot and SUM(delta) agree, flags follow stock
SELECT p.id AS product_id, p.sku, p.stock_quantity, s.current_stock,
       COALESCE(l.total, 0) AS ledger_sum, s.low_stock_flag, s.negative_flag,
       p.low_stock_threshold
  FROM products p
  LEFT JOIN inventory_snapshot s ON s.product_id = p.id
  LEFT JOIN (SELECT product_id, sum(delta) AS total FROM inventory_ledger
              WHERE product_id BETWEEN %(lo)s AND %(hi)s GROUP BY product_id) l
         ON l.product_id = p.id
 WHERE p.id BETWEEN %(lo)s AND %(hi)s
   AND (s.product_id IS NULL
        OR p.stock_quantity <> COALESCE(l.total, 0)
        OR s.current_stock <> COALESCE(l.total, 0)
        OR s.negative_flag <> (s.current_stock < 0)
        OR s.low_stock_flag <> (p.low_stock_threshold IS NOT NULL
                                AND s.current_stock <= p.low_stock_threshold))
 ORDER BY p.id;
