package b2bua

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
)

func headCall(at int64, id, from, to string) *Call {
	c := &Call{id: call.ID(id), rec: call.Record{FromNumber: from, ToNumber: to, StartedAt: time.Unix(0, at).UTC()}}
	c.publishHead()
	return c
}

func pageIDs(page []call.Snapshot) string {
	var s string
	for _, c := range page {
		s += string(c.ID)
	}
	return s
}

// TestCallsPages: a page is the calls the query selects in list order
// (start, then ID), whatever order they were tracked in.
func TestCallsPages(t *testing.T) {
	// Six calls, tracked out of order; b and c start in the same nanosecond.
	calls := []*Call{
		headCall(30, "e", "1003", "1001"),
		headCall(10, "a", "1001", "1002"),
		headCall(20, "c", "1002", "1003"),
		headCall(40, "f", "1002", "+15550100"),
		headCall(20, "b", "1001", "1003"),
		headCall(25, "d", "1004", "1002"),
	}
	for _, tt := range []struct {
		name string
		q    call.LiveQuery
		want string
	}{
		{"all", call.LiveQuery{}, "abcdef"},
		{"limit", call.LiveQuery{Limit: 3}, "abc"},
		{"limit above the calls", call.LiveQuery{Limit: 50}, "abcdef"},
		{"limit one", call.LiveQuery{Limit: 1}, "a"},
		{"limit all but one", call.LiveQuery{Limit: 5}, "abcde"},
		{"after a tie", call.LiveQuery{AfterAt: 20, AfterID: "b"}, "cdef"},
		{"after a call now ended", call.LiveQuery{AfterAt: 22, AfterID: "zz"}, "def"},
		{"after the last", call.LiveQuery{AfterAt: 40, AfterID: "f"}, ""},
		{"after, limit", call.LiveQuery{AfterAt: 10, AfterID: "a", Limit: 2}, "bc"},
		{"from or to a number", call.LiveQuery{ByNumber: true, Number: "1001"}, "abe"},
		{"number, after, limit", call.LiveQuery{ByNumber: true, Number: "1002", AfterAt: 10, AfterID: "a", Limit: 2}, "cd"},
		{"a number on no call", call.LiveQuery{ByNumber: true, Number: "\x00"}, ""},
		{"empty number is a number", call.LiveQuery{ByNumber: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 {
				b := &B2BUA{calls: map[call.ID]*Call{}}
				for _, i := range rand.Perm(len(calls)) {
					b.listLocked(calls[i])
				}
				if got := pageIDs(b.Calls(tt.q)); got != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestCallsWalk: many calls, tracked in random order with ties in their
// start and some ended (the oldest among them), walked page after page as a client would, come out
// as a sort of the live ones.
func TestCallsWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := &B2BUA{calls: map[call.ID]*Call{}}
	var live []*Call
	for i := range 500 {
		c := headCall(int64(rng.IntN(200)), fmt.Sprintf("c%03d", i), fmt.Sprint(1000+rng.IntN(5)), fmt.Sprint(1000+rng.IntN(5)))
		b.listLocked(c)
		b.wg.Add(1) // as track does
		live = append(live, c)
	}
	for n := range 150 {
		i := rng.IntN(len(live))
		if n%10 == 0 { // the oldest, as most often
			i = 0
			for j, c := range live {
				if c.head().Compare(live[i].head()) < 0 {
					i = j
				}
			}
		}
		b.forget(live[i])
		live = slices.Delete(live, i, i+1)
	}
	if len(b.order) != len(live) || len(b.calls) != len(live) {
		t.Fatalf("%d calls in order, %d by ID, want %d", len(b.order), len(b.calls), len(live))
	}
	slices.SortFunc(live, func(x, y *Call) int { return x.head().Compare(y.head()) })
	for _, limit := range []int{1, 2, 7, 50, 349, 350, 351} {
		for _, num := range []string{"", "1003"} {
			q := call.LiveQuery{Limit: limit, ByNumber: num != "", Number: num}
			var want []call.ID
			for _, c := range live {
				if q.Takes(c.head()) {
					want = append(want, c.id)
				}
			}
			var got []call.ID
			for {
				page := b.Calls(q)
				for _, s := range page {
					got = append(got, s.ID)
				}
				if len(page) < limit {
					break
				}
				last := call.SnapshotHead(page[len(page)-1])
				q.AfterAt, q.AfterID = last.StartedAt, last.ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d number %q: walked %v, want %v", limit, num, got, want)
			}
		}
	}
}
