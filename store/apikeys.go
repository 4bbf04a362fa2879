package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.APIKeyRepo = (*DB)(nil)

type apiKeyRow struct {
	ID          string         `db:"id"`
	Name        string         `db:"name"`
	Role        string         `db:"role"`
	ExtensionID sql.NullString `db:"extension_id"`
	Hint        string         `db:"hint"`
	CreatedAt   int64          `db:"created_at"`
}

const apiKeyColumns = `id, name, role, extension_id, hint, created_at`

// scan reads a row of apiKeyColumns, in their order.
func (r *apiKeyRow) scan(s interface{ Scan(dest ...any) error }) error {
	return s.Scan(&r.ID, &r.Name, &r.Role, &r.ExtensionID, &r.Hint, &r.CreatedAt)
}

func (r *apiKeyRow) toKey() *core.APIKey {
	return &core.APIKey{
		ID: core.APIKeyID(r.ID), Name: r.Name, Role: core.ParseRole(r.Role),
		ExtensionID: core.ExtensionID(r.ExtensionID.String), Hint: r.Hint, CreatedAt: fromMicros(r.CreatedAt),
	}
}

// CreateAPIKey stores a key by the hash of its secret.
func (db *DB) CreateAPIKey(ctx context.Context, k *core.APIKey, secretHash string) error {
	ext := sql.NullString{String: string(k.ExtensionID), Valid: k.ExtensionID != ""}
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_keys (id, name, role, extension_id, secret_hash, hint, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, k.Role.String(), ext, secretHash, k.Hint, micros(k.CreatedAt))
	if err != nil {
		return uniqueViolation(err, "api key", map[string]string{"secret_hash": "", "id": string(k.ID)})
	}
	return nil
}

// APIKeyBySecretHash finds the key whose secret hashes to secretHash.
func (db *DB) APIKeyBySecretHash(ctx context.Context, secretHash string) (*core.APIKey, error) {
	// Every API request comes here: the row is scanned by hand, not by
	// sqlx's reflection over the struct tags.
	var r apiKeyRow
	if err := r.scan(db.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE secret_hash = ?`, secretHash)); err != nil {
		return nil, notFound(err, "api key", "by secret")
	}
	return r.toKey(), nil
}

// GetAPIKey loads one key.
func (db *DB) GetAPIKey(ctx context.Context, id core.APIKeyID) (*core.APIKey, error) {
	var r apiKeyRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "api key", id)
	}
	return r.toKey(), nil
}

// ListAPIKeys returns one page of keys ordered by id.
func (db *DB) ListAPIKeys(ctx context.Context, p core.PageRequest) (core.Page[*core.APIKey], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*core.APIKey]{}, err
		}
	}
	var rows []apiKeyRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1); err != nil {
		return core.Page[*core.APIKey]{}, fmt.Errorf("list api keys: %w", err)
	}
	rows, next := core.TrimPage(rows, limit, func(r apiKeyRow) []any { return []any{r.ID} })
	page := core.Page[*core.APIKey]{Items: make([]*core.APIKey, 0, len(rows))}
	page.NextCursor = next
	for i := range rows {
		page.Items = append(page.Items, rows[i].toKey())
	}
	return page, nil
}

// DeleteAPIKey revokes a key, unless it is the last admin key.
func (db *DB) DeleteAPIKey(ctx context.Context, id core.APIKeyID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var role string
		if err := tx.GetContext(ctx, &role, `SELECT role FROM api_keys WHERE id = ?`, id); err != nil {
			return notFound(err, "api key", id)
		}
		if role == core.RoleAdmin.String() {
			var admins int
			if err := tx.GetContext(ctx, &admins, `SELECT count(*) FROM api_keys WHERE role = 'admin'`); err != nil {
				return err
			}
			if admins <= 1 {
				return fmt.Errorf("api key %s is the last admin key and cannot be revoked: %w", id, core.ErrConflict)
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
		return err
	})
}

// CountAPIKeys returns how many keys exist.
func (db *DB) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM api_keys`)
	return n, err
}
