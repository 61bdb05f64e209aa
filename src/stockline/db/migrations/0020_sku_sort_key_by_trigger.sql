-- Every stock change updates its product row (the cached stock_quantity, S-1), and a
-- STORED generated column is recomputed on every UPDATE of its row, whichever column
-- changed. So each purchase line paid for stockline_natural_sort_key(sku) again (its
-- regexp walk: 40-100 µs a line, measured with auto_explain; a 3-line purchase's
-- statement went from 1.9 to 1.5 ms of server CPU without it, bench/purchases).
-- The key now is an ordinary column that a trigger sets when the SKU is written: same
-- values, same index, computed only on INSERT and on UPDATE OF sku.
ALTER TABLE products ALTER COLUMN sku_sort_key DROP EXPRESSION;

CREATE FUNCTION stockline_products_sku_sort_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.sku_sort_key := stockline_natural_sort_key(NEW.sku);
    RETURN NEW;
END $$;
-- Also when a statement names sku_sort_key itself: the key is always derived from the
-- SKU, never written by hand (as when it was generated).
CREATE TRIGGER products_sku_sort_key BEFORE INSERT OR UPDATE OF sku, sku_sort_key ON products
    FOR EACH ROW EXECUTE FUNCTION stockline_products_sku_sort_key();
