-- +goose Up
ALTER TABLE call_records ADD COLUMN dialled TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN caller_id_presented TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE call_records DROP COLUMN caller_id_presented;
ALTER TABLE call_records DROP COLUMN dialled;
