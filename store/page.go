package store

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/dialtone-pbx/dialtone/core"
)

// Keyset pagination: a cursor is the sort key of the last row of a page,
// encoded opaquely. The next page is the rows strictly after it.

func encodeCursor(keys ...any) string {
	b, _ := json.Marshal(keys)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor fills dst (pointers) from a cursor made by encodeCursor with the same shape.
func decodeCursor(cursor string, dst ...any) error {
	bad := core.ValidationError{{Field: "cursor", Message: "is not a cursor this list produced"}}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != len(dst) {
		return bad
	}
	for i, p := range parts {
		if err := json.Unmarshal(p, dst[i]); err != nil {
			return bad
		}
	}
	return nil
}

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return core.DefaultPageLimit
	case n > core.MaxPageLimit:
		return core.MaxPageLimit
	}
	return n
}

// trimPage cuts the one extra row fetched to learn whether another page
// exists and returns the cursor of the next page ("" on the last page): the
// sort key of the last row kept, as key gives it.
func trimPage[T any](rows []T, limit int, key func(T) []any) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(key(rows[limit-1])...)
}

// likePattern escapes s for use in a LIKE ... ESCAPE '\' expression.
func likePattern(prefix, s, suffix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return prefix + r.Replace(s) + suffix
}
