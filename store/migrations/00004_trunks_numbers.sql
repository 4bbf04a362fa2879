-- +goose Up
CREATE TABLE trunks (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    host             TEXT NOT NULL,
    port             INTEGER NOT NULL,
    transport        TEXT NOT NULL,
    auth_mode        TEXT NOT NULL,
    username         TEXT NOT NULL DEFAULT '',
    password_sealed  BLOB,
    realm            TEXT NOT NULL DEFAULT '',
    register_expires INTEGER NOT NULL DEFAULT 0,
    allowed_cidrs    TEXT NOT NULL DEFAULT '',
    outbound_proxy   TEXT NOT NULL DEFAULT '',
    from_user        TEXT NOT NULL DEFAULT '',
    from_domain      TEXT NOT NULL DEFAULT '',
    did_source       TEXT NOT NULL,
    codecs           TEXT NOT NULL,
    max_channels     INTEGER NOT NULL DEFAULT 0,
    enabled          INTEGER NOT NULL DEFAULT 1,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE numbers (
    id                 TEXT PRIMARY KEY,
    number             TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL DEFAULT '',
    caller_id_name     TEXT NOT NULL DEFAULT '',
    kind               TEXT NOT NULL,
    direction          TEXT NOT NULL,
    trunk_id           TEXT REFERENCES trunks(id) ON DELETE RESTRICT,
    route_type         TEXT NOT NULL,
    route_extension_id TEXT REFERENCES extensions(id) ON DELETE RESTRICT,
    route_number       TEXT NOT NULL DEFAULT '',
    record_inbound     INTEGER NOT NULL DEFAULT 0,
    record_outbound    INTEGER NOT NULL DEFAULT 0,
    block_caller_id    INTEGER NOT NULL DEFAULT 0,
    billing_group      TEXT NOT NULL DEFAULT '',
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX numbers_trunk ON numbers(trunk_id);
CREATE INDEX numbers_route_extension ON numbers(route_extension_id);

ALTER TABLE call_records ADD COLUMN trunk_id TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN number_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE call_records DROP COLUMN number_id;
ALTER TABLE call_records DROP COLUMN trunk_id;
DROP TABLE numbers;
DROP TABLE trunks;
