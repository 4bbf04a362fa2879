-- +goose Up
CREATE TABLE prompts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    replaces    TEXT NOT NULL DEFAULT '', -- system prompt name, '' for none
    duration_ms INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX prompts_name ON prompts(name, id);
CREATE UNIQUE INDEX prompts_replaces ON prompts(replaces, language) WHERE replaces <> '';

-- The audio apart from the rows, so lists never read it: 8 kHz mono 16-bit WAV.
CREATE TABLE prompt_audio (
    prompt_id TEXT PRIMARY KEY REFERENCES prompts(id) ON DELETE CASCADE,
    wav       BLOB NOT NULL
);

CREATE TABLE moh_classes (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    prompts    TEXT NOT NULL, -- JSON array of prompt ids and system prompt names
    play_order TEXT NOT NULL DEFAULT 'ordered',
    version    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The default class (core.DefaultMOHClassID): editable, never deleted.
INSERT INTO moh_classes (id, name, prompts, play_order, version, created_at, updated_at)
VALUES ('moh_vj3bxx11dgev1160', 'default', '["moh-default"]', 'ordered', 1,
        CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);

-- +goose Down
DROP TABLE moh_classes;
DROP TABLE prompt_audio;
DROP TABLE prompts;
