package call

import (
	"cmp"
	"slices"
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

func (h LiveHead) compare(o LiveHead) int {
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
	return q.AfterID == "" || h.compare(LiveHead{StartedAt: q.AfterAt, ID: q.AfterID}) > 0
}

// SelectLive returns the calls q selects of calls, in list order; head
// tells what each is. Only what it returns need be looked at further, so
// a page costs little however many calls are up.
func SelectLive[T any](calls []T, q LiveQuery, head func(T) LiveHead) []T {
	type taken struct {
		h LiveHead
		i int
	}
	list := make([]taken, 0, len(calls))
	for i, c := range calls {
		if h := head(c); q.Takes(h) {
			list = append(list, taken{h, i})
		}
	}
	slices.SortFunc(list, func(a, b taken) int { return a.h.compare(b.h) })
	if q.Limit > 0 && len(list) > q.Limit {
		list = list[:q.Limit]
	}
	out := make([]T, len(list))
	for j, t := range list {
		out[j] = calls[t.i]
	}
	return out
}

// SnapshotHead is the head of a snapshot.
func SnapshotHead(s Snapshot) LiveHead {
	return LiveHead{StartedAt: s.StartedAt.UnixNano(), ID: s.ID, FromNumber: s.FromNumber, ToNumber: s.ToNumber}
}
