-- Units sold per product per UTC day, kept in step with the ledger (SPEC 7.3 reorder
-- list). Summing a 28-day window straight from inventory_ledger reads every sale in it
-- (4 s for the 2.4M rows of bench/growth.py's 10M ledger); this table holds one row per
-- product and day, so the window is products x days rows whatever the sales volume.
--
-- A statement trigger with a transition table adds each INSERT's purchase rows in one
-- upsert (a basket is one statement in the purchase function), inside the writing
-- transaction: a rolled-back sale never counts. The (product, day) rows are only
-- written by transactions that hold the product's row lock (purchases lock their
-- products first), so the upserts add no lock order of their own.
CREATE TABLE inventory_sales_daily (
    product_id bigint NOT NULL REFERENCES products (id),
    day        date   NOT NULL,
    sold       bigint NOT NULL,
    PRIMARY KEY (product_id, day)
);
CREATE INDEX inventory_sales_daily_day_idx ON inventory_sales_daily (day);

CREATE FUNCTION stockline_inventory_sales_daily_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inventory_sales_daily AS d (product_id, day, sold)
    SELECT r.product_id, (r.created_at AT TIME ZONE 'UTC')::date, sum(-r.delta)
      FROM stockline_new_ledger_rows r
     WHERE r.source = 'purchase'
     GROUP BY 1, 2
     ORDER BY 1, 2
    ON CONFLICT (product_id, day) DO UPDATE SET sold = d.sold + EXCLUDED.sold;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_ledger_sales_daily AFTER INSERT ON inventory_ledger
    REFERENCING NEW TABLE AS stockline_new_ledger_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stockline_inventory_sales_daily_add();

-- Rebuilds the table from the ledger: after a restore that bypassed triggers
-- (session_replication_role = replica), as the stock columns are rebuilt then too.
CREATE FUNCTION stockline_inventory_sales_daily_rebuild() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM inventory_sales_daily;
    INSERT INTO inventory_sales_daily (product_id, day, sold)
    SELECT product_id, (created_at AT TIME ZONE 'UTC')::date, sum(-delta)
      FROM inventory_ledger WHERE source = 'purchase'
     GROUP BY 1, 2;
    SELECT count(*) FROM inventory_sales_daily;
$$;
SELECT stockline_inventory_sales_daily_rebuild();
