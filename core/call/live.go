package call

import (
	"cmp"
	"strings"
)

// LiveQuery selects a page of the live calls, in list order: oldest first,
// by start time, then ID.
type LiveQuery struct {
	// ByNumber keeps only the calls from or to Number.
	ByNumber bool
	Number   string
	// AfterID, when set, keeps only the calls after the one that started at
	// AfterAt (Unix nanoseconds) with that ID, in list order; that call
	// need not be live any more.
	AfterAt int64
	AfterID ID
	// Limit is the most calls selected; 0 for all.
	Limit int
}

// LiveHead is what a query looks at of a live call.
type LiveHead struct {
	StartedAt            int64 // Unix nanoseconds
	ID                   ID
	FromNumber, ToNumber string
}

// Compare orders heads in list order: by start, then ID.
func (h LiveHead) Compare(o LiveHead) int {
	if c := cmp.Compare(h.StartedAt, o.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(string(h.ID), string(o.ID))
}

// Takes reports whether q selects a call, the limit aside.
func (q LiveQuery) Takes(h LiveHead) bool {
	if q.ByNumber && h.FromNumber != q.Number && h.ToNumber != q.Number {
		return false
	}
	return q.AfterID == "" || h.Compare(LiveHead{StartedAt: q.AfterAt, ID: q.AfterID}) > 0
}

// SnapshotHead is the head of a snapshot.
func SnapshotHead(s Snapshot) LiveHead {
	return LiveHead{StartedAt: s.StartedAt.UnixNano(), ID: s.ID, FromNumber: s.FromNumber, ToNumber: s.ToNumber}
}
