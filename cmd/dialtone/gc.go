package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// serveGCPercent is the garbage collector's target (Go's GOGC) the server
// runs with when the environment sets none: the heap may grow by half its
// live data between collections, where Go's default lets it double. The
// PBX's live heap is small (the credential cache and the calls up), so a
// collection costs little, while the room the heap is allowed between
// collections is resident memory: with Go's default it is most of what a
// live call and a registration cost in memory.
const serveGCPercent = 50

// tuneGC sets the collector's target to serveGCPercent unless GOGC is set,
// in which case the Go runtime has applied that already.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(serveGCPercent)
}

// trimEvery is how long the collector may stay idle before the server
// collects and returns the heap's free memory to the operating system.
//
// Go collects only when the heap grows, and returns memory at the pace of
// its own collections. Relayed audio allocates nothing, so once a burst of
// calls is set up the heap can stay at its peak, holding the burst's
// garbage and the INVITE transactions that ended since, for as long as the
// calls last: Go's own forced collection comes every two minutes, and
// returns only what lies beyond a tenth over the heap in use. Under load
// the collector runs many times a second and this never fires; idle, it
// costs one collection of a small heap every trimEvery.
const trimEvery = 10 * time.Second

// heapTrimmer decides, each period, whether the collector ran since the last
// one; if it did not, it frees.
type heapTrimmer struct {
	cycles func() uint64 // collections completed so far
	free   func()
	last   uint64
}

func newHeapTrimmer() *heapTrimmer {
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	cycles := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	return &heapTrimmer{cycles: cycles, free: debug.FreeOSMemory, last: cycles()}
}

// tick is one period's check; it reports whether it freed.
func (t *heapTrimmer) tick() bool {
	n := t.cycles()
	if n != t.last {
		t.last = n
		return false
	}
	t.free()
	t.last = t.cycles()
	return true
}
