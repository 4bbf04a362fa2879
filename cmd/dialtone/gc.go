package main

import "runtime/debug"

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
