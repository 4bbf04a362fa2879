package call

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSelectLive(t *testing.T) {
	// Six calls, given out of order; b and c start in the same nanosecond.
	heads := []LiveHead{
		{StartedAt: 30, ID: "e", FromNumber: "1003", ToNumber: "1001"},
		{StartedAt: 10, ID: "a", FromNumber: "1001", ToNumber: "1002"},
		{StartedAt: 20, ID: "c", FromNumber: "1002", ToNumber: "1003"},
		{StartedAt: 40, ID: "f", FromNumber: "1002", ToNumber: "+15550100"},
		{StartedAt: 20, ID: "b", FromNumber: "1001", ToNumber: "1003"},
		{StartedAt: 25, ID: "d", FromNumber: "1004", ToNumber: "1002"},
	}
	for _, tt := range []struct {
		name string
		q    LiveQuery
		want string
	}{
		{"all", LiveQuery{}, "abcdef"},
		{"limit", LiveQuery{Limit: 3}, "abc"},
		{"limit above the calls", LiveQuery{Limit: 50}, "abcdef"},
		{"limit one", LiveQuery{Limit: 1}, "a"},
		{"limit all but one", LiveQuery{Limit: 5}, "abcde"},
		{"after a tie", LiveQuery{AfterAt: 20, AfterID: "b"}, "cdef"},
		{"after a call now ended", LiveQuery{AfterAt: 22, AfterID: "zz"}, "def"},
		{"after the last", LiveQuery{AfterAt: 40, AfterID: "f"}, ""},
		{"from or to a number", LiveQuery{ByNumber: true, Number: "1001"}, "abe"},
		{"number, after, limit", LiveQuery{ByNumber: true, Number: "1002", AfterAt: 10, AfterID: "a", Limit: 2}, "cd"},
		{"a number on no call", LiveQuery{ByNumber: true, Number: "\x00"}, ""},
		{"empty number is a number", LiveQuery{ByNumber: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 {
				in := slices.Clone(heads)
				rand.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
				var got string
				for _, h := range SelectLive(in, tt.q, func(h LiveHead) LiveHead { return h }) {
					got += string(h.ID)
				}
				if got != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestSelectLiveMany checks pages of many calls, in random order with ties,
// against a sort of them all.
func TestSelectLiveMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var heads []LiveHead
	for i := range 500 {
		heads = append(heads, LiveHead{StartedAt: int64(rng.IntN(200)), ID: ID(fmt.Sprintf("c%03d", i)),
			FromNumber: fmt.Sprint(1000 + rng.IntN(5)), ToNumber: fmt.Sprint(1000 + rng.IntN(5))})
	}
	all := slices.Clone(heads)
	slices.SortFunc(all, func(a, b LiveHead) int { return a.compare(b) })
	for _, limit := range []int{1, 2, 7, 50, 499, 500, 501} {
		for _, num := range []string{"", "1003"} {
			q := LiveQuery{Limit: limit, ByNumber: num != "", Number: num}
			var want []LiveHead
			for _, h := range all {
				if q.Takes(h) {
					want = append(want, h)
				}
			}
			// Walk the pages as a client would, cursor after cursor.
			var got []LiveHead
			for {
				page := SelectLive(heads, q, func(h LiveHead) LiveHead { return h })
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				last := page[len(page)-1]
				q.AfterAt, q.AfterID = last.StartedAt, last.ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d number %q: %d calls walked, want %d", limit, num, len(got), len(want))
			}
		}
	}
}
