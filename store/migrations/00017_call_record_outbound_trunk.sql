-- +goose Up
-- An inbound call sent back out (a number forwarded to an outside number, a
-- call plan's transfer to one) uses two trunks: trunk_id stays the one it
-- came in on, and this is the one it left on.
ALTER TABLE call_records ADD COLUMN outbound_trunk_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE call_records DROP COLUMN outbound_trunk_id;
