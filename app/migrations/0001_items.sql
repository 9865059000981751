-- The example app's schema (app/items, app/stats, app/cleanup). One statement per change; safe to re-run.
CREATE TABLE IF NOT EXISTS items (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS items_created_at ON items (created_at);
