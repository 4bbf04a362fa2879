package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestTuneGC: the server runs the collector at serveGCPercent, unless GOGC
// names a target of its own.
func TestTuneGC(t *testing.T) {
	const before = 137
	for _, tt := range []struct {
		name string
		gogc string
		want int
	}{
		{"no GOGC", "", serveGCPercent},
		{"GOGC set", "200", before},
		{"GOGC off", "off", before},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prev := debug.SetGCPercent(before)
			defer debug.SetGCPercent(prev)
			tuneGC(func(k string) string {
				if k == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(before); got != tt.want {
				t.Fatalf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}

// TestHeapTrimmer: a period in which the collector ran frees nothing; a
// period without a collection frees once, and the collection that freeing
// runs does not count as activity for the next period.
func TestHeapTrimmer(t *testing.T) {
	for _, tt := range []struct {
		name string
		// gcs[i] is how many collections the runtime completes on its own
		// before period i is checked.
		gcs  []int
		want []bool
	}{
		{"idle", []int{0, 0, 0}, []bool{true, true, true}},
		{"busy", []int{3, 1, 7}, []bool{false, false, false}},
		{"burst then idle", []int{5, 2, 0, 0}, []bool{false, false, true, true}},
		{"idle, a burst, idle", []int{0, 4, 0}, []bool{true, false, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cycles uint64 = 10
			frees := 0
			tr := &heapTrimmer{
				cycles: func() uint64 { return cycles },
				free:   func() { frees++; cycles++ },
				last:   cycles,
			}
			for i, n := range tt.gcs {
				cycles += uint64(n)
				wantFrees := frees
				if tt.want[i] {
					wantFrees++
				}
				if got := tr.tick(); got != tt.want[i] {
					t.Fatalf("period %d: freed %v, want %v", i, got, tt.want[i])
				}
				if frees != wantFrees {
					t.Fatalf("period %d: free ran %d times in all, want %d", i, frees, wantFrees)
				}
			}
		})
	}
}

// TestHeapTrimmerReturnsMemory: with the runtime's own counters, an idle
// period collects the garbage and gives its pages back to the system. The
// collector is off meanwhile, so that nothing but the trimmer collects; the
// bounds leave room for what other goroutines of the test binary allocate
// at the same time.
func TestHeapTrimmerReturnsMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	tr := newHeapTrimmer()
	garbage := make([][]byte, 0, 512)
	for range 512 {
		garbage = append(garbage, make([]byte, 64<<10))
	}
	garbage = nil
	_ = garbage
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tr.last = tr.cycles() // no collection since: the period is idle
	if !tr.tick() {
		t.Fatal("an idle period did not free")
	}
	runtime.ReadMemStats(&after)
	if after.NumGC == before.NumGC {
		t.Fatal("freeing ran no collection")
	}
	if after.HeapInuse+16<<20 > before.HeapInuse {
		t.Fatalf("heap in use %d -> %d bytes, want the 32 MiB of garbage gone", before.HeapInuse, after.HeapInuse)
	}
	if after.HeapReleased < before.HeapReleased+16<<20 {
		t.Fatalf("released %d -> %d bytes, want the garbage's pages given back", before.HeapReleased, after.HeapReleased)
	}
}

// BenchmarkHeapTrim is the cost of one idle period's trim with a live heap
// of about 25 MB in small objects, as 10,000 registrations and a few
// hundred calls hold.
func BenchmarkHeapTrim(b *testing.B) {
	type node struct {
		next *node
		pad  [48]byte
	}
	var live []*node
	for range 25 << 20 / 64 {
		live = append(live, &node{})
	}
	tr := newHeapTrimmer()
	b.ResetTimer()
	for range b.N {
		tr.last = tr.cycles()
		tr.tick()
	}
	runtime.KeepAlive(live)
}
