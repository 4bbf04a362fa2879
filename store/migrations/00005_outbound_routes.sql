-- +goose Up
CREATE TABLE outbound_routes (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    patterns   TEXT NOT NULL,
    prepend    TEXT NOT NULL DEFAULT '',
    trunk_ids  TEXT NOT NULL,
    caller_id  TEXT NOT NULL DEFAULT '',
    enabled    INTEGER NOT NULL DEFAULT 1,
    position   INTEGER NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbound_routes_position ON outbound_routes(position, id);
ALTER TABLE call_records ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE call_records DROP COLUMN attempts;
DROP TABLE outbound_routes;
