package store

import (
	"context"
	"fmt"

	"github.com/dialtone-pbx/dialtone/core"
)

// EachExtension calls fn with every extension, SIP password included, in
// one query, one row at a time; it stops at the first error fn returns.
func (db *DB) EachExtension(ctx context.Context, fn func(*core.Extension) error) error {
	rows, err := db.r.QueryxContext(ctx, `SELECT `+extensionColumns+` FROM extensions ORDER BY number`)
	if err != nil {
		return fmt.Errorf("list extensions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r extensionRow
		if err := rows.StructScan(&r); err != nil {
			return fmt.Errorf("list extensions: %w", err)
		}
		e, err := db.rowToExtension(&r)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list extensions: %w", err)
	}
	return nil
}
