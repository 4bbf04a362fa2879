package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/dialtone-pbx/dialtone/core"
)

// notFound turns sql.ErrNoRows into core.ErrNotFound.
func notFound(err error, what string, id any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %v: %w", what, id, core.ErrNotFound)
	}
	return err
}

// uniqueViolation turns a UNIQUE constraint failure into a core.ConflictError
// naming the column; values maps column names to the values written.
func uniqueViolation(err error, resource string, values map[string]string) error {
	var se sqlite3.Error
	if !errors.As(err, &se) || se.ExtendedCode != sqlite3.ErrConstraintUnique && se.ExtendedCode != sqlite3.ErrConstraintPrimaryKey {
		return err
	}
	// The message reads "UNIQUE constraint failed: table.column".
	msg := se.Error()
	if i := strings.LastIndex(msg, "."); i >= 0 {
		col := msg[i+1:]
		return &core.ConflictError{Resource: resource, Field: col, Value: values[col]}
	}
	return fmt.Errorf("%s: %w", resource, core.ErrConflict)
}
