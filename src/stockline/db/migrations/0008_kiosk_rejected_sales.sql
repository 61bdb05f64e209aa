-- A sale a kiosk queued while offline and the server refused when it was replayed
-- (e.g. a product deactivated meanwhile). The customer has already left with the goods,
-- so the sale is kept here for staff instead of being dropped (SPEC §7.5).
CREATE TABLE kiosk_rejected_sales (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kiosk_id        bigint      NOT NULL REFERENCES kiosks (id),
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- the basket as the customer saw it: [{product_id, quantity, name, unit_price_cents}]
    items           jsonb       NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    -- when the customer bought (the kiosk's clock) and what the server answered on replay
    sold_at         timestamptz NOT NULL,
    refused_status  integer     NOT NULL CHECK (refused_status BETWEEN 400 AND 499),
    refused_detail  text        NOT NULL,
    reported_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     bigint      REFERENCES admins (id),
    -- a kiosk reports again until it sees an answer: the same sale is stored once
    UNIQUE (kiosk_id, idempotency_key)
);
CREATE INDEX kiosk_rejected_sales_open_idx ON kiosk_rejected_sales (id) WHERE resolved_at IS NULL;
