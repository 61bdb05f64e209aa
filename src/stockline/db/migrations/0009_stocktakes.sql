-- SPEC 7.3: stocktakes while the shop sells. Each line remembers the stock at the
-- moment it was counted, so commit writes delta = counted - stock_at_count and the
-- sales made between the count and the commit stay in the ledger.
CREATE TABLE stocktakes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note       text        NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    status     text        NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'committed', 'abandoned')),
    created_by bigint      REFERENCES admins (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_by  bigint      REFERENCES admins (id),
    closed_at  timestamptz,
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX stocktakes_status_idx ON stocktakes (status, id);

CREATE TABLE stocktake_lines (
    stocktake_id     bigint      NOT NULL REFERENCES stocktakes (id),
    product_id       bigint      NOT NULL REFERENCES products (id),
    -- true while its stocktake is open (copied so the index below can be partial)
    open             boolean     NOT NULL DEFAULT true,
    counted_quantity bigint      CHECK (counted_quantity >= 0),
    stock_at_count   bigint,
    counted_by       bigint      REFERENCES admins (id),
    counted_at       timestamptz,
    -- the reconciliation row the commit wrote (none when the count matched)
    ledger_id        bigint      REFERENCES inventory_ledger (id),
    PRIMARY KEY (stocktake_id, product_id),
    CHECK ((counted_quantity IS NULL) = (stock_at_count IS NULL))
);
-- One open count per product (docs/manager.md): two would each reconcile against their
-- own stock_at_count and the second commit would undo or double the first. The index
-- makes it hold under concurrent creates too.
CREATE UNIQUE INDEX stocktake_lines_open_product_key ON stocktake_lines (product_id) WHERE open;
