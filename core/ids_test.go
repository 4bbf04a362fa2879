package core

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// resetOrdered forgets the last ordered id, as a new process would.
func resetOrdered(t *testing.T) {
	t.Helper()
	ordered.mu.Lock()
	ordered.ms, ordered.count = 0, 0
	ordered.mu.Unlock()
	t.Cleanup(func() {
		ordered.mu.Lock()
		ordered.ms, ordered.count = 0, 0
		ordered.mu.Unlock()
	})
}

func TestOrderedIDSortsByTime(t *testing.T) {
	tests := []struct {
		name string
		ms   []uint64 // the clock at each id
	}{
		{"clock moving on", []uint64{1_000, 1_001, 1_500, 90_000_000}},
		{"same millisecond", []uint64{5_000, 5_000, 5_000, 5_000}},
		{"clock stepping back", []uint64{9_000, 8_000, 8_999, 9_000, 9_001}},
		{"today", []uint64{uint64(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMilli()), uint64(time.Date(2026, 11, 24, 0, 0, 0, 1e6, time.UTC).UnixMilli())}},
		{"year 2500", []uint64{uint64(time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()), uint64(time.Date(2500, 1, 1, 0, 0, 0, 1e6, time.UTC).UnixMilli())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resetOrdered(t)
			var ids []string
			for _, ms := range tt.ms {
				id := "call_" + orderedID(ms)
				if !HasPrefix(id, "call_") {
					t.Fatalf("%q is not a well-formed id", id)
				}
				if len(ids) > 0 && id <= ids[len(ids)-1] {
					t.Fatalf("%q (clock %d) does not sort after %q", id, ms, ids[len(ids)-1])
				}
				ids = append(ids, id)
			}
		})
	}
}

// An id made a millisecond later sorts after every id made before it,
// whatever their random counts: the time is the id's leading bits.
func TestOrderedIDTimeLeads(t *testing.T) {
	resetOrdered(t)
	for ms := uint64(1_700_000_000_000); ms < 1_700_000_000_000+200; ms++ {
		a := orderedID(ms)
		resetOrdered(t) // a new process, a random count again
		b := orderedID(ms + 1)
		if b <= a {
			t.Fatalf("clock %d: %q does not sort after %q", ms+1, b, a)
		}
	}
}

// When a millisecond's count runs out, the ids go on in the next one.
func TestOrderedIDCountCarries(t *testing.T) {
	resetOrdered(t)
	first := orderedID(7_000)
	ordered.mu.Lock()
	ordered.count = 1<<orderedCountBits - 2
	ordered.mu.Unlock()
	a, b, c := orderedID(7_000), orderedID(7_000), orderedID(7_000)
	if !(first < a && a < b && b < c) {
		t.Fatalf("ids out of order across the carry: %q %q %q %q", first, a, b, c)
	}
	if next := orderedID(7_001); next <= c {
		t.Fatalf("an id of the next millisecond %q does not sort after %q, already made for it", next, c)
	}
}

func TestNewOrderedIDUniqueAcrossGoroutines(t *testing.T) {
	const workers, each = 8, 5_000
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out[w] = append(out[w], NewOrderedID(PrefixEvent))
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range out {
		if !sort.StringsAreSorted(ids) {
			t.Fatal("one goroutine's ids are not in the order it made them")
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%q made twice", id)
			}
			seen[id] = true
			if !strings.HasPrefix(id, PrefixEvent) || !HasPrefix(id, PrefixEvent) {
				t.Fatalf("%q is not a well-formed event id", id)
			}
		}
	}
}
