package core

import (
	"math/big"
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

// When a millisecond's count runs out, the ids go on in the next one. The
// millisecond is odd, so that a count spilling into the time bits would not
// make the same ids.
func TestOrderedIDCountCarries(t *testing.T) {
	resetOrdered(t)
	first := orderedID(7_001)
	ordered.mu.Lock()
	ordered.count = 1<<orderedCountBits - 2
	ordered.mu.Unlock()
	a, b, c := orderedID(7_001), orderedID(7_001), orderedID(7_001)
	if !(first < a && a < b && b < c) {
		t.Fatalf("ids out of order across the carry: %q %q %q %q", first, a, b, c)
	}
	if want := layout(7_001, 1<<orderedCountBits-1); a != want {
		t.Fatalf("the count's last id is %q, want %q", a, want)
	}
	if want := layout(7_002, 0); b != want {
		t.Fatalf("the id after the carry is %q, want %q", b, want)
	}
	if want := layout(7_002, 1); c != want {
		t.Fatalf("the next id is %q, want %q", c, want)
	}
	if next := orderedID(7_002); next != layout(7_002, 2) {
		t.Fatalf("an id made at the millisecond the carry reached is %q, want %q", next, layout(7_002, 2))
	}
}

// layout is the id of ms and count written out digit by digit: 80 bits, the
// time first, five bits per character, most significant first.
func layout(ms, count uint64) string {
	n := new(big.Int).Lsh(new(big.Int).SetUint64(ms), orderedCountBits)
	n.Or(n, new(big.Int).SetUint64(count))
	const digits = "0123456789abcdefghjkmnpqrstvwxyz"
	out := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		out[i] = digits[new(big.Int).And(n, big.NewInt(31)).Int64()]
		n.Rsh(n, 5)
	}
	return string(out)
}

func TestOrderedIDLayout(t *testing.T) {
	tests := []struct{ ms, count uint64 }{
		{0, 1},
		{1, 1},
		{1_795_564_300_000, 0x123456789 & (1<<orderedCountBits - 1)},
		{1_795_564_300_001, 1<<orderedCountBits - 1},
		{1<<orderedTimeBits - 1, 1<<(orderedCountBits-1) + 12345},
	}
	for _, tt := range tests {
		resetOrdered(t)
		ordered.mu.Lock()
		ordered.ms, ordered.count = tt.ms, tt.count-1 // the next id counts on to tt.count
		ordered.mu.Unlock()
		if got, want := orderedID(tt.ms), layout(tt.ms, tt.count); got != want {
			t.Errorf("ms %d count %d: %q, want %q", tt.ms, tt.count, got, want)
		}
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
