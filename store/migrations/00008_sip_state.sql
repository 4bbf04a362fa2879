-- +goose Up
-- SIP state that must survive a restart: registrations (so registered phones
-- stay reachable without registering again), bans and the allow-list.
CREATE TABLE sip_registrations (
    extension_id  TEXT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    contact       TEXT NOT NULL,
    username      TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    transport     TEXT NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    call_id       TEXT NOT NULL DEFAULT '',
    cseq          INTEGER NOT NULL DEFAULT 0,
    registered_at INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (extension_id, contact)
);
CREATE INDEX sip_registrations_expires ON sip_registrations(expires_at);

CREATE TABLE sip_bans (
    ip       TEXT PRIMARY KEY,
    since    INTEGER NOT NULL,
    until    INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    reason   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE sip_allowlist (
    id          TEXT PRIMARY KEY,
    cidr        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE sip_allowlist;
DROP TABLE sip_bans;
DROP TABLE sip_registrations;
