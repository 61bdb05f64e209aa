-- Keys for the short-lived query tokens of GET /api/inventory/events (browsers'
-- EventSource cannot send an Authorization header). Every process of every
-- instance must verify a token another one signed, so the key lives here; the
-- first process that needs it inserts 32 bytes from Python's CSPRNG.
CREATE TABLE stockline_signing_keys (
    name       text PRIMARY KEY,
    secret     bytea       NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
