package store

import (
	"sync"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// recordCache keeps call records by ID. A record's row is written twice:
// when the call starts and when it is finished (the write queue's finish,
// or CloseDanglingCallRecords for calls a stopped server left open), and
// every finish drops what is kept of the record. So a page of records reads
// only the keys of its rows from SQLite and takes the records it already
// holds from here: the newest pages, which are read over and over while
// calls go on, share all but their newest rows with the last read, open
// calls included.
//
// It holds at most recordCacheSize records and drops the oldest kept first.
// Records are shared: whoever gets one must not change it.
type recordCache struct {
	mu    sync.Mutex
	m     map[string]keptRecord
	order []string // the IDs kept, in a ring: order[next] is the oldest; "" a free slot
	next  int
	// gen counts the finishes committed; a read that overlapped one does
	// not keep what it read, which may predate it.
	gen uint64
}

// keptRecord is a kept record and its slot in the ring, which a finish
// frees: a record kept open and again once finished holds one slot, and an
// old slot of it never drops the new entry.
type keptRecord struct {
	rec  *call.Record
	slot int
}

// recordCacheSize is a few hundred kilobytes of records: deep enough for the
// newest pages of every filter at the largest page size.
const recordCacheSize = 2048

// lookup fills out[i] with the kept record of keys[i] where there is one,
// and returns the generation to pass to keep.
func (c *recordCache) lookup(keys []recordKey, out []*call.Record) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		out[i] = c.m[k.id].rec
	}
	return c.gen
}

// keep stores records read since lookup returned gen, unless a finish was
// committed meanwhile.
func (c *recordCache) keep(gen uint64, recs []*call.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil {
		c.m = make(map[string]keptRecord, recordCacheSize)
		c.order = make([]string, recordCacheSize)
	}
	for _, r := range recs {
		id := string(r.ID)
		if _, ok := c.m[id]; ok {
			continue
		}
		if old := c.order[c.next]; old != "" {
			delete(c.m, old)
		}
		c.order[c.next] = id
		c.m[id] = keptRecord{rec: r, slot: c.next}
		c.next = (c.next + 1) % len(c.order)
	}
}

// finished drops what is kept of records whose finish has just been
// committed: it is older than the row now. It is called once the finish is
// committed and before anyone waiting for the commit learns of it.
func (c *recordCache) finished(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if e, ok := c.m[id]; ok {
			c.order[e.slot] = ""
			delete(c.m, id)
		}
	}
}
