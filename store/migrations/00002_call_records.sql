-- +goose Up
CREATE TABLE call_records (
    id             TEXT PRIMARY KEY,
    sip_call_id    TEXT NOT NULL,
    direction      TEXT NOT NULL,
    from_number    TEXT NOT NULL DEFAULT '',
    from_name      TEXT NOT NULL DEFAULT '',
    to_number      TEXT NOT NULL DEFAULT '',
    started_at     INTEGER NOT NULL,
    answered_at    INTEGER,
    ended_at       INTEGER,
    disposition    TEXT NOT NULL DEFAULT '',
    hangup_cause   TEXT NOT NULL DEFAULT '',
    hangup_by      TEXT NOT NULL DEFAULT '',
    caller_quality TEXT NOT NULL DEFAULT '{}',
    callee_quality TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX call_records_started ON call_records(started_at, id);
CREATE INDEX call_records_from ON call_records(from_number, started_at);
CREATE INDEX call_records_to ON call_records(to_number, started_at);
CREATE INDEX call_records_open ON call_records(id) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE call_records;
