-- The write path's functions keep their statements' generic plans.
--
-- PL/pgSQL caches a plan per statement, but with parameters PostgreSQL's plan cache may
-- keep building a custom plan on every execution (plan_cache_mode = auto compares the
-- generic plan's estimated cost with the custom ones' and often keeps re-planning). A
-- purchase runs some thirty statements through the ledger trigger; re-planning them is
-- where a profile of its backend went (stringToNode reading column defaults and
-- constraints, expression walkers, plan validity checks: perf, 2026-12-02). Every one of
-- these statements is a lookup or a write by key whose best plan does not depend on the
-- values, so a generic plan is the right one: a 3-line purchase with its numbering fell
-- from 1.63-1.68 to 1.17-1.29 ms of a lone backend (pgbench, synchronous_commit off).
--
-- A function's SET holds for everything it calls, so the purchase covers its trigger
-- chain, and the ledger trigger every other writer's (adjustments, stocktakes, imports,
-- psql). The positioner covers its numbering.
ALTER FUNCTION stockline_transactions_purchase_v1(text, text, bytea, bigint, bigint[], integer[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION stockline_inventory_ledger_apply() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION stockline_inventory_events_position_v1(integer)
    SET plan_cache_mode = force_generic_plan;
-- CREATE OR REPLACE FUNCTION drops a function's SET clauses: a migration that replaces
-- one of these must set it again (tests/integration/test_migrations.py checks).
