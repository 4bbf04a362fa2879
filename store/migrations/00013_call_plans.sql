-- +goose Up
CREATE TABLE call_plans (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    language   TEXT NOT NULL,
    graph      TEXT NOT NULL, -- JSON: {"entry": ..., "nodes": {...}}
    version    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE call_plans;
