-- +goose Up
-- A known value sealed with DATA_DIR/secret.key when the key is first used
-- with this database, so that a start with a missing or different key is
-- refused instead of leaving every sealed secret unreadable.
CREATE TABLE secret_check (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL
);

-- +goose Down
DROP TABLE secret_check;
