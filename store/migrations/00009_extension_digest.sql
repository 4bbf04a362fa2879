-- +goose Up
-- Digest algorithms offered to an extension's phones, comma-separated in
-- order of preference; empty means the server's (--digest-algorithms).
ALTER TABLE extensions ADD COLUMN sip_digest_algorithms TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE extensions DROP COLUMN sip_digest_algorithms;
