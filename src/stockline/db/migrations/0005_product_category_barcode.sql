-- SPEC 7.3: products gain an optional category (for the kiosk's filter and the
-- portal's lists) and an optional barcode a scanner can look up. Absent values are
-- NULL, never '', so the partial unique index allows any number of products
-- without a barcode while two products can never share one.
ALTER TABLE products
    ADD COLUMN category text CHECK (length(category) BETWEEN 1 AND 100),
    ADD COLUMN barcode  text CHECK (length(barcode) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX products_barcode_key ON products (barcode) WHERE barcode IS NOT NULL;
