package store

import (
	"strings"

	"github.com/dialtone-pbx/dialtone/core"
)

// trimPage cuts the one extra row fetched to learn whether another page
// exists and returns the cursor of the next page ("" on the last page): the
// sort key of the last row kept, as key gives it.
func trimPage[T any](rows []T, limit int, key func(T) []any) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, core.EncodeCursor(key(rows[limit-1])...)
}

// likePattern escapes s for use in a LIKE ... ESCAPE '\' expression.
func likePattern(prefix, s, suffix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return prefix + r.Replace(s) + suffix
}
