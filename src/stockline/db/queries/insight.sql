-- name: select_product_days
-- one row per UTC day of the window (oldest first) with that day's net move and units
-- sold, plus the product's stock, all from one snapshot
WITH win AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS last,
           (now() AT TIME ZONE 'UTC')::date - (%(days)s - 1) AS first
), moves AS (
    SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day,
           sum(l.delta) AS net,
           COALESCE(sum(-l.delta) FILTER (WHERE l.source = 'purchase'), 0) AS sold
      FROM inventory_ledger l, win
     WHERE l.product_id = %(product_id)s
       AND l.created_at >= win.first::timestamp AT TIME ZONE 'UTC'
     GROUP BY 1
)
SELECT d.day::date AS day, COALESCE(m.net, 0) AS net, COALESCE(m.sold, 0) AS sold,
       p.stock_quantity AS current_stock, p.low_stock_threshold
  FROM products p
 CROSS JOIN win
 CROSS JOIN LATERAL generate_series(win.first, win.last, interval '1 day') AS d(day)
  LEFT JOIN moves m ON m.day = d.day::date
 WHERE p.id = %(product_id)s
 ORDER BY d.day;

-- name: select_sales_by_product
-- units each active product sold in the window, in natural SKU order, from the daily
-- sales table (migration 0015): products x days rows, whatever the sales volume
WITH sales AS (
    SELECT product_id, sum(sold) AS sold
      FROM inventory_sales_daily
     WHERE day >= (now() AT TIME ZONE 'UTC')::date - (%(days)s - 1)
     GROUP BY product_id
)
SELECT p.id, p.sku, p.name, p.stock_quantity AS current_stock, p.low_stock_threshold,
       COALESCE(s.sold, 0) AS sold
  FROM products p
  LEFT JOIN sales s ON s.product_id = p.id
 WHERE p.active
 ORDER BY p.sku_sort_key, p.id;
