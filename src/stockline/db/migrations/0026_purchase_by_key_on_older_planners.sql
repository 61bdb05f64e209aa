-- The purchase reads its products by key on PostgreSQL 15 too (migration 0025's
-- promise, found by CI's run on the system PostgreSQL 15).
--
-- 0025's locking read `WHERE id = ANY(p_product_ids) ORDER BY id FOR UPDATE` runs as a
-- generic plan (0023). PostgreSQL 18 plans it as an index scan on the primary key; 15
-- estimates ten rows for an array parameter and costs a sequential scan of a small
-- catalogue below the index, so every sale read every dead row version of the hottest
-- pages. Every statement of the purchase and of the triggers it fires is a lookup or a
-- write by key (0023), so the function runs with sequential scans costed out: where an
-- index answers, the planner takes it; where none does, nothing changes.
-- Tested: tests/integration/test_write_path_plans.py, on 18 and on 15.

ALTER FUNCTION stockline_transactions_purchase_v1(text, text, bytea, bigint, bigint[], integer[])
    SET enable_seqscan = off;
