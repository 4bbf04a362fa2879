package api

import (
	"sync"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// recordJSON keeps the JSON of the call records the lists served last.
// The store shares its records and never changes one: a record that changes
// (a call that ends) comes back as a new record. So a record's JSON is kept
// under the record itself, and the newest pages, which share all but their
// newest rows with the last read, encode only those.
//
// It holds at most recordJSONSize records and drops the oldest kept first.
type recordJSON struct {
	mu   sync.Mutex
	m    map[*call.Record][]byte
	ring []*call.Record // the records kept, oldest at next; nil a free slot
	next int
}

// recordJSONSize covers the newest pages of the usual filters at the largest
// page size, for about a megabyte.
const recordJSONSize = 2048

// lookup fills out[i] with the kept JSON of recs[i], or nil.
func (c *recordJSON) lookup(recs []*call.Record, out [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range recs {
		out[i] = c.m[r]
	}
}

// keep stores the JSON of records; it must not change afterwards.
func (c *recordJSON) keep(recs []*call.Record, js [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[*call.Record][]byte, recordJSONSize)
		c.ring = make([]*call.Record, recordJSONSize)
	}
	for i, r := range recs {
		if _, ok := c.m[r]; ok {
			continue
		}
		if old := c.ring[c.next]; old != nil {
			delete(c.m, old)
		}
		c.ring[c.next] = r
		c.m[r] = js[i]
		c.next = (c.next + 1) % len(c.ring)
	}
}
