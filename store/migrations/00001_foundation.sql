-- +goose Up
CREATE TABLE extensions (
    id                   TEXT PRIMARY KEY,
    number               TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL DEFAULT '',
    email                TEXT NOT NULL DEFAULT '',
    mobile               TEXT NOT NULL DEFAULT '',
    outbound_caller_id   TEXT NOT NULL DEFAULT '',
    language             TEXT NOT NULL DEFAULT 'en',
    timezone             TEXT NOT NULL DEFAULT 'UTC',
    enabled              INTEGER NOT NULL DEFAULT 1,
    ring_timeout_seconds INTEGER NOT NULL DEFAULT 30,
    voicemail_enabled    INTEGER NOT NULL DEFAULT 0,
    voicemail_pin_hash   TEXT NOT NULL DEFAULT '',
    sip_username         TEXT NOT NULL UNIQUE,
    sip_password_sealed  BLOB NOT NULL,
    hide_from_directory  INTEGER NOT NULL DEFAULT 0,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    extension_id TEXT REFERENCES extensions(id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL UNIQUE,
    hint         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    CHECK ((role = 'member') = (extension_id IS NOT NULL))
);
CREATE INDEX api_keys_extension ON api_keys(extension_id);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    headers      TEXT NOT NULL DEFAULT '{}',
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
DROP TABLE extensions;
