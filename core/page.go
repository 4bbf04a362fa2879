package core

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

// Page is one page of a list and the cursor of the next page ("" on the last one).
type Page[T any] struct {
	Items      []T
	NextCursor string
}
