-- Insight (SPEC 7.3) reads a product's ledger by time: sales of the last N days and the
-- daily series. With only (product_id, id), a product's whole history is read and
-- filtered; this index answers the window from the index alone (an append-only table
-- stays all-visible after vacuum). Built inside the migration's transaction: on a large
-- ledger it blocks writes while it builds (about 10 s for 10M rows on 2 cores; see
-- docs/manager.md for building it CONCURRENTLY beforehand instead).
CREATE INDEX IF NOT EXISTS inventory_ledger_product_time_idx
    ON inventory_ledger (product_id, created_at) INCLUDE (delta, source);

-- Natural order for SKUs (BULK-2 before BULK-10): digit runs compare as numbers (length
-- first, leading zeros ignored), other runs case-insensitively; compare with COLLATE "C".
CREATE FUNCTION stockline_natural_sort_key(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT COALESCE(string_agg(
               CASE WHEN r.m[1] ~ '^[0-9]'
                    THEN lpad(length(ltrim(r.m[1], '0'))::text, 3, '0') || ltrim(r.m[1], '0')
                    ELSE lower(r.m[1]) END,
               '' ORDER BY r.n), '')
      FROM regexp_matches(p_text, '([0-9]+|[^0-9]+)', 'g') WITH ORDINALITY AS r(m, n)
$$;
