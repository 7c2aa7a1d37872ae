-- 0003_state: small shared records every instance reads and writes with a
-- compare-and-swap on version (the migration rollout's state:
-- gateway/migrate.StateStore). One row per key; value is a JSON document.
CREATE TABLE IF NOT EXISTS state (
    key        text        NOT NULL PRIMARY KEY,
    value      bytea       NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
