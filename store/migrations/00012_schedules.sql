-- +goose Up
CREATE TABLE schedules (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    time_zone           TEXT NOT NULL,
    spec                TEXT NOT NULL, -- JSON: weekly hours and holidays
    override_mode       TEXT NOT NULL DEFAULT 'none',
    override_until      INTEGER,       -- micros; NULL: until cleared
    override_code       TEXT UNIQUE,   -- NULL: none
    override_extensions TEXT NOT NULL DEFAULT '[]', -- JSON array of extension ids
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- +goose Down
DROP TABLE schedules;
