package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.PromptRepo = (*DB)(nil)

type promptRow struct {
	ID         string `db:"id"`
	Name       string `db:"name"`
	Language   string `db:"language"`
	Replaces   string `db:"replaces"`
	DurationMS int64  `db:"duration_ms"`
	SizeBytes  int64  `db:"size_bytes"`
	Version    int64  `db:"version"`
	CreatedAt  int64  `db:"created_at"`
	UpdatedAt  int64  `db:"updated_at"`
}

const promptColumns = `id, name, language, replaces, duration_ms, size_bytes, version, created_at, updated_at`

func toPromptRow(p *core.Prompt) promptRow {
	return promptRow{ID: string(p.ID), Name: p.Name, Language: p.Language, Replaces: p.Replaces,
		DurationMS: p.DurationMS, SizeBytes: p.SizeBytes, Version: p.Version,
		CreatedAt: micros(p.CreatedAt), UpdatedAt: micros(p.UpdatedAt)}
}

func (r *promptRow) prompt() *core.Prompt {
	return &core.Prompt{ID: core.PromptID(r.ID), Name: r.Name, Language: r.Language, Replaces: r.Replaces,
		DurationMS: r.DurationMS, SizeBytes: r.SizeBytes, Version: r.Version,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

// replacesFree refuses a second prompt replacing the same system prompt in
// the same language.
func replacesFree(ctx context.Context, q sqlx.QueryerContext, p *core.Prompt) error {
	if p.Replaces == "" {
		return nil
	}
	var other string
	err := sqlx.GetContext(ctx, q, &other, `SELECT id FROM prompts WHERE replaces = ? AND language = ? AND id <> ?`,
		p.Replaces, p.Language, p.ID)
	if err == nil {
		return &core.ConflictError{Resource: "prompt replacing " + p.Replaces + " in " + p.Language, Field: "replaces", Value: p.Replaces}
	}
	return notFoundOK(err)
}

// notFoundOK is nil for "no rows" and err otherwise.
func notFoundOK(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// replacesViolation turns a race lost on the prompts_replaces index into the
// conflict replacesFree would have reported.
func replacesViolation(err error, p *core.Prompt) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return &core.ConflictError{Resource: "prompt replacing " + p.Replaces + " in " + p.Language, Field: "replaces", Value: p.Replaces}
	}
	return err
}

// CreatePrompt stores a prompt and its audio in one transaction.
func (db *DB) CreatePrompt(ctx context.Context, p *core.Prompt, wav []byte) error {
	if len(wav) == 0 {
		return fmt.Errorf("prompt %s without audio: %w", p.ID, core.ErrInvalid)
	}
	p.SizeBytes = int64(len(wav))
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := replacesFree(ctx, tx, p); err != nil {
			return err
		}
		if _, err := tx.NamedExecContext(ctx, `INSERT INTO prompts (`+promptColumns+`) VALUES (:id, :name, :language,
			:replaces, :duration_ms, :size_bytes, :version, :created_at, :updated_at)`, toPromptRow(p)); err != nil {
			return replacesViolation(err, p)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO prompt_audio (prompt_id, wav) VALUES (?, ?)`, p.ID, wav)
		return err
	})
}

// GetPrompt loads one prompt (without its audio).
func (db *DB) GetPrompt(ctx context.Context, id core.PromptID) (*core.Prompt, error) {
	var r promptRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+promptColumns+` FROM prompts WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "prompt", id)
	}
	return r.prompt(), nil
}

// ListPrompts returns one page of prompts ordered by name, then id.
func (db *DB) ListPrompts(ctx context.Context, p core.PageRequest) (core.Page[*core.Prompt], error) {
	limit := p.Size()
	var afterName, afterID string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &afterName, &afterID); err != nil {
			return core.Page[*core.Prompt]{}, err
		}
	}
	var rows []promptRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+promptColumns+` FROM prompts
		WHERE name > ? OR (name = ? AND id > ?) ORDER BY name, id LIMIT ?`, afterName, afterName, afterID, limit+1); err != nil {
		return core.Page[*core.Prompt]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r promptRow) []any { return []any{r.Name, r.ID} })
	page := core.Page[*core.Prompt]{Items: make([]*core.Prompt, 0, len(rows)), NextCursor: next}
	for i := range rows {
		page.Items = append(page.Items, rows[i].prompt())
	}
	return page, nil
}

// UpdatePrompt writes p (and wav, unless nil) if the stored version is still
// expectVersion.
func (db *DB) UpdatePrompt(ctx context.Context, p *core.Prompt, wav []byte, expectVersion int64) error {
	if wav != nil {
		if len(wav) == 0 {
			return fmt.Errorf("prompt %s without audio: %w", p.ID, core.ErrInvalid)
		}
		p.SizeBytes = int64(len(wav))
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM prompts WHERE id = ?`, p.ID); err != nil {
			return notFound(err, "prompt", p.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("prompt %s changed: %w", p.ID, core.ErrPrecondition)
		}
		if err := replacesFree(ctx, tx, p); err != nil {
			return err
		}
		row := toPromptRow(p)
		row.Version = current + 1
		if _, err := tx.NamedExecContext(ctx, `UPDATE prompts SET name = :name, language = :language, replaces = :replaces,
			duration_ms = :duration_ms, size_bytes = :size_bytes, version = :version, updated_at = :updated_at
			WHERE id = :id`, row); err != nil {
			return replacesViolation(err, p)
		}
		if wav != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE prompt_audio SET wav = ? WHERE prompt_id = ?`, wav, p.ID); err != nil {
				return err
			}
		}
		p.Version = row.Version
		return nil
	})
}

// DeletePrompt removes a prompt and its audio unless something plays it.
func (db *DB) DeletePrompt(ctx context.Context, id core.PromptID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var one int
		if err := tx.GetContext(ctx, &one, `SELECT 1 FROM prompts WHERE id = ?`, id); err != nil {
			return notFound(err, "prompt", id)
		}
		users, err := promptUsers(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return &core.InUseError{Resource: "prompt " + string(id), UsedBy: "call plans, music-on-hold classes or extensions", Refs: users}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM prompts WHERE id = ?`, id)
		return err
	})
}

// maxUsers is how many users of a resource an InUseError names.
const maxUsers = 20

// promptUsers names the call plans, music-on-hold classes and extensions
// (their spoken name) that refer to a prompt. Call plans and extension
// name prompts come with later migrations: each is looked for only when its
// table or column exists.
func promptUsers(ctx context.Context, q sqlx.QueryerContext, id core.PromptID) ([]string, error) {
	var users []string
	type ref struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	add := func(kind string, query string, args ...any) error {
		var refs []ref
		if err := sqlx.SelectContext(ctx, q, &refs, query, args...); err != nil {
			return err
		}
		for _, r := range refs {
			users = append(users, fmt.Sprintf("%s %q (%s)", kind, r.Name, r.ID))
		}
		return nil
	}
	if ok, err := schemaHasTable(ctx, q, "call_plans"); err != nil {
		return nil, err
	} else if ok {
		if err := add("call plan", `SELECT id, name FROM call_plans WHERE instr(graph, ?) > 0 ORDER BY name, id LIMIT ?`, id, maxUsers); err != nil {
			return nil, err
		}
	}
	if err := add("music-on-hold class", `SELECT id, name FROM moh_classes WHERE instr(prompts, ?) > 0 ORDER BY name, id LIMIT ?`,
		`"`+string(id)+`"`, maxUsers); err != nil {
		return nil, err
	}
	if ok, err := schemaHasColumn(ctx, q, "extensions", "name_prompt_id"); err != nil {
		return nil, err
	} else if ok {
		if err := add("extension", `SELECT id, number AS name FROM extensions WHERE name_prompt_id = ? ORDER BY number LIMIT ?`, id, maxUsers); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// schemaHasTable reports whether a table exists (one a later migration adds).
func schemaHasTable(ctx context.Context, q sqlx.QueryerContext, table string) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table)
	return n > 0, err
}

// schemaHasColumn reports whether a table has a column (one a later
// migration adds).
func schemaHasColumn(ctx context.Context, q sqlx.QueryerContext, table, column string) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column)
	return n > 0, err
}

// PromptVersion is a prompt's version, read without its audio.
func (db *DB) PromptVersion(ctx context.Context, id core.PromptID) (int64, error) {
	var v int64
	if err := db.r.GetContext(ctx, &v, `SELECT version FROM prompts WHERE id = ?`, id); err != nil {
		return 0, notFound(err, "prompt", id)
	}
	return v, nil
}

// PromptAudio is a prompt's stored WAV and the prompt's version.
func (db *DB) PromptAudio(ctx context.Context, id core.PromptID) ([]byte, int64, error) {
	var r struct {
		WAV     []byte `db:"wav"`
		Version int64  `db:"version"`
	}
	err := db.r.GetContext(ctx, &r, `SELECT a.wav, p.version FROM prompts p JOIN prompt_audio a ON a.prompt_id = p.id WHERE p.id = ?`, id)
	if err != nil {
		return nil, 0, notFound(err, "prompt audio", id)
	}
	return r.WAV, r.Version, nil
}

// PromptReplacing is the prompt that replaces system prompt name in exactly
// language.
func (db *DB) PromptReplacing(ctx context.Context, name, language string) (core.PromptID, int64, error) {
	var r struct {
		ID      string `db:"id"`
		Version int64  `db:"version"`
	}
	if name == "" {
		return "", 0, fmt.Errorf("prompt replacing nothing: %w", core.ErrNotFound)
	}
	err := db.r.GetContext(ctx, &r, `SELECT id, version FROM prompts WHERE replaces = ? AND language = ?`, name, language)
	if err != nil {
		return "", 0, notFound(err, "prompt replacing", name+" in "+language)
	}
	return core.PromptID(r.ID), r.Version, nil
}

// PromptReplacements lists the prompts replacing system prompts, by name
// and language.
func (db *DB) PromptReplacements(ctx context.Context) ([]*core.Prompt, error) {
	var rows []promptRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+promptColumns+` FROM prompts WHERE replaces <> ''
		ORDER BY replaces, language`); err != nil {
		return nil, err
	}
	out := make([]*core.Prompt, len(rows))
	for i := range rows {
		out[i] = rows[i].prompt()
	}
	return out, nil
}
