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
// a page costs little however many calls are up; and it keeps no more than
// the page while it looks.
func SelectLive[T any](calls []T, q LiveQuery, head func(T) LiveHead) []T {
	limit := q.Limit
	if limit <= 0 || limit > len(calls) {
		limit = len(calls)
	}
	// The first limit calls taken so far, in a heap with the last on top.
	top := make(liveHeap, 0, limit)
	for i, c := range calls {
		h := head(c)
		if !q.Takes(h) {
			continue
		}
		switch {
		case len(top) < limit:
			top = append(top, taken{h, i})
			top.up(len(top) - 1)
		case h.compare(top[0].h) < 0:
			top[0] = taken{h, i}
			top.down(0)
		}
	}
	slices.SortFunc(top, func(a, b taken) int { return a.h.compare(b.h) })
	out := make([]T, len(top))
	for j, t := range top {
		out[j] = calls[t.i]
	}
	return out
}

// taken is a call a query took: its head and where it is in the list.
type taken struct {
	h LiveHead
	i int
}

// liveHeap is a heap of taken calls with the one last in list order on top.
type liveHeap []taken

func (t liveHeap) after(i, j int) bool { return t[i].h.compare(t[j].h) > 0 }

func (t liveHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.after(i, p) {
			return
		}
		t[i], t[p] = t[p], t[i]
		i = p
	}
}

func (t liveHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(t) {
			return
		}
		if c+1 < len(t) && t.after(c+1, c) {
			c++
		}
		if !t.after(c, i) {
			return
		}
		t[i], t[c] = t[c], t[i]
		i = c
	}
}

// SnapshotHead is the head of a snapshot.
func SnapshotHead(s Snapshot) LiveHead {
	return LiveHead{StartedAt: s.StartedAt.UnixNano(), ID: s.ID, FromNumber: s.FromNumber, ToNumber: s.ToNumber}
}
