-- The work-list floor (0022) is trusted only in the cluster, and the row version, that
-- wrote it.
--
-- 0022 ignored a floor above the current snapshot's xmin, which catches a counter row
-- restored from a cluster whose transaction ids ran far ahead. It misses one whose ids
-- were only a little ahead: once this cluster's xmin passes the foreign floor, the
-- events written below it here would be skipped for good (found in review). The floor
-- now carries the transaction that stored it, and counts only while it is still the
-- transaction that last wrote the counter row (the row's xmin). A restore, a logical
-- replication apply or any other write of the row (a decision-0001 writer's id, the
-- snapshot event's numbering) makes them differ, and then the next run reads the work
-- list from the start and stores a floor of its own: slower once, never a missed event.
-- The row's xmin is the (sub)transaction that wrote it, and the positioner numbers inside
-- an exception block, a subtransaction, whose id SQL cannot name beforehand: the run
-- reads it back from its first UPDATE of the row and stores it with a second one in the
-- same subtransaction, whose version then carries that same xmin.
ALTER TABLE inventory_event_counter ADD COLUMN unpositioned_floor_by xid;

CREATE OR REPLACE FUNCTION stockline_inventory_events_floor() RETURNS xid8
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.unpositioned_floor_by = c.xmin
                 AND c.unpositioned_floor <= pg_snapshot_xmin(pg_current_snapshot())
                THEN c.unpositioned_floor ELSE '0'::xid8 END
      FROM inventory_event_counter c
$$;

-- 0022's body; the UPDATE of the counter row also records who stored the floor.
CREATE OR REPLACE FUNCTION stockline_inventory_events_number_locked() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_rows  tid[];
    v_xmin  xid8;
    v_total bigint;
    v_base  bigint;
    v_by    xid;
BEGIN
    SELECT array_agg(e.ctid ORDER BY e.tx, e.seq), pg_snapshot_xmin(pg_current_snapshot())
      INTO v_rows, v_xmin
      FROM inventory_events e
     WHERE e.id IS NULL AND e.tx >= stockline_inventory_events_floor();
    v_total := coalesce(cardinality(v_rows), 0);
    IF v_total = 0 THEN
        RETURN 0;
    END IF;
    UPDATE inventory_event_counter SET last_id = last_id + v_total
    RETURNING last_id - v_total, xmin INTO v_base, v_by;
    UPDATE inventory_event_counter SET unpositioned_floor = v_xmin, unpositioned_floor_by = v_by;
    UPDATE inventory_events e SET id = v_base + u.n
      FROM unnest(v_rows) WITH ORDINALITY AS u(row_address, n)
     WHERE e.ctid = u.row_address;
    RETURN v_total;
END $$;
ALTER FUNCTION stockline_inventory_events_number_locked()
    SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
