-- +goose Up
-- Call records filtered by number are read newest first, one page at a time:
-- with id in the index, each side of "from or to this number" is one ordered
-- index range, so a page costs its own rows whatever the table holds.
CREATE INDEX call_records_from_started ON call_records(from_number, started_at, id);
CREATE INDEX call_records_to_started ON call_records(to_number, started_at, id);
DROP INDEX call_records_from;
DROP INDEX call_records_to;

-- +goose Down
CREATE INDEX call_records_from ON call_records(from_number, started_at);
CREATE INDEX call_records_to ON call_records(to_number, started_at);
DROP INDEX call_records_from_started;
DROP INDEX call_records_to_started;
