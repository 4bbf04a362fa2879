package core

import (
	"encoding/base64"
	"encoding/json"
)

// MaxPageLimit is the largest page any list returns.
const MaxPageLimit = 500

// DefaultPageLimit is used when a list request names no limit.
const DefaultPageLimit = 50

// PageRequest asks for one page of a keyset-paginated list. Cursor is opaque to
// callers; it is produced by the repository that serves the list.
type PageRequest struct {
	Limit  int
	Cursor string
}

// Size is the number of items the page holds at most: Limit, or the default
// when none is named, and never more than MaxPageLimit.
func (p PageRequest) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// Page is one page of a list and the cursor of the next page ("" on the last one).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// TrimPage cuts the one item more than limit read to learn whether another
// page follows, and returns the cursor of the next page ("" on the last
// page): the sort keys of the last item kept, as key gives them.
func TrimPage[T any](items []T, limit int, key func(T) []any) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, EncodeCursor(key(items[limit-1])...)
}

// Keyset pagination: a cursor is the sort key of the last item of a page,
// encoded opaquely. The next page is the items strictly after it.

// EncodeCursor is the cursor of a page ending at an item with these sort keys.
func EncodeCursor(keys ...any) string {
	b, _ := json.Marshal(keys)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor fills dst (pointers) from a cursor EncodeCursor made with keys
// of the same shape; a cursor of another shape is a ValidationError naming
// the cursor.
func DecodeCursor(cursor string, dst ...any) error {
	bad := ValidationError{{Field: "cursor", Message: "is not a cursor this list produced"}}
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
