-- +goose Up
ALTER TABLE extensions ADD COLUMN call_permissions TEXT NOT NULL DEFAULT 'internal,local,national,mobile';
ALTER TABLE extensions ADD COLUMN emergency_callback_number TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE extensions DROP COLUMN emergency_callback_number;
ALTER TABLE extensions DROP COLUMN call_permissions;
