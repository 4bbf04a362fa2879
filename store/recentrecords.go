package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// recentRecords is an index of the newest call records by their list key,
// with the columns list filters test, so that the newest pages of every list
// (the pages read over and over while calls go on) find their rows without
// SQL. It changes only where the rows do: the write queue's creates and
// finishes, applied once committed and before anyone waiting for the commit
// learns of it, and CloseDanglingCallRecords.
//
// It holds every record whose key is at or above its oldest entry's, or
// every record there is when whole. A page that reaches below that is read
// from SQL. Like recordCache, it relies on call records being written by
// this process alone, through those paths.
type recentRecords struct {
	mu      sync.RWMutex
	entries []recentRecord // ascending by (at, id)
	whole   bool           // entries are every record in the database
	size    int            // entries kept when trimmed; they grow to twice as many
}

// recentRecord is a record's list key and the columns filters test.
type recentRecord struct {
	at                     int64
	id                     string
	from, to               string
	direction, disposition string
}

// recentRecordsSize is deep enough for the first pages of the filters that
// match most calls, at the largest page size, and is a few hundred
// kilobytes at most.
const recentRecordsSize = 2048

func (e *recentRecord) key() recordKey { return recordKey{at: e.at, id: e.id} }

// less orders list keys: by start time, then ID.
func (k recordKey) less(o recordKey) bool {
	return k.at < o.at || k.at == o.at && k.id < o.id
}

// load reads the newest records. It runs before any write is queued.
func (r *recentRecords) load(ctx context.Context, db *sqlx.DB, size int) error {
	rows, err := db.QueryContext(ctx, `SELECT started_at, id, from_number, to_number, direction, disposition
		FROM call_records`+callRecordOrder+` LIMIT ?`, size)
	if err != nil {
		return fmt.Errorf("read recent call records: %w", err)
	}
	defer rows.Close()
	entries := make([]recentRecord, 0, 2*size)
	for rows.Next() {
		var e recentRecord
		if err := rows.Scan(&e.at, &e.id, &e.from, &e.to, &e.direction, &e.disposition); err != nil {
			return fmt.Errorf("read recent call records: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read recent call records: %w", err)
	}
	slices.Reverse(entries) // read newest first, held ascending
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries, r.whole, r.size = entries, len(entries) < size, size
	return nil
}

// find is the position of the first entry whose key is not below k.
func (r *recentRecords) find(k recordKey) int {
	return sort.Search(len(r.entries), func(i int) bool { return !r.entries[i].key().less(k) })
}

// add holds the record of a committed create. The lock is held.
func (r *recentRecords) add(row *callRecordRow) {
	if r.size == 0 {
		return // not loaded: lists go to SQL
	}
	e := recentRecord{at: row.StartedAt, id: row.ID, from: row.FromNumber, to: row.ToNumber,
		direction: row.Direction, disposition: row.Disposition}
	k := e.key()
	if !r.whole && (len(r.entries) == 0 || k.less(r.entries[0].key())) {
		return // older than what is held; the page that reaches it reads SQL
	}
	i := r.find(k)
	if i < len(r.entries) && r.entries[i].id == e.id {
		// A create commits once (the primary key); were one applied
		// twice, the entry is replaced rather than doubled.
		r.entries[i] = e
		return
	}
	if len(r.entries) >= 2*r.size {
		r.trim()
		if k.less(r.entries[0].key()) {
			return
		}
		i = r.find(k)
	}
	r.entries = append(r.entries, recentRecord{})
	copy(r.entries[i+1:], r.entries[i:])
	r.entries[i] = e
}

// trim keeps the newest size entries: the records below them are no longer
// held.
func (r *recentRecords) trim() {
	drop := len(r.entries) - r.size
	n := copy(r.entries, r.entries[drop:])
	clear(r.entries[n:])
	r.entries = r.entries[:n]
	r.whole = false
}

// finished sets the disposition of records whose finishes were committed.
func (r *recentRecords) finished(keys []recordKey, disposition string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.setDisposition(k, disposition)
	}
}

// setDisposition sets the disposition of the record k, the only filtered
// column a finish changes; a record not found under its key is looked for
// by ID. The lock is held.
func (r *recentRecords) setDisposition(k recordKey, disposition string) {
	i := r.find(k)
	if i == len(r.entries) || r.entries[i].id != k.id {
		i = slices.IndexFunc(r.entries, func(e recentRecord) bool { return e.id == k.id })
	}
	if i >= 0 {
		r.entries[i].disposition = disposition
	}
}

// page is the keys of up to limit records matching f after the keyset
// position after (when set), newest first, and whether they are the whole
// answer: false when the page reaches below the records held.
func (r *recentRecords) page(f call.Filter, after *recordKey, limit int) ([]recordKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.size == 0 {
		return nil, false
	}
	i := len(r.entries)
	if after != nil {
		i = r.find(*after)
	}
	if !f.To.IsZero() {
		i = min(i, r.find(recordKey{at: micros(f.To)}))
	}
	var from int64
	bounded := !f.From.IsZero()
	if bounded {
		from = micros(f.From)
	}
	keys := make([]recordKey, 0, limit)
	for i--; i >= 0; i-- {
		e := &r.entries[i]
		if bounded && e.at < from {
			return keys, true
		}
		if e.matches(f) {
			keys = append(keys, e.key())
			if len(keys) == limit {
				return keys, true
			}
		}
	}
	return keys, r.whole
}

func (e *recentRecord) matches(f call.Filter) bool {
	return (f.Number == "" || e.from == f.Number || e.to == f.Number) &&
		(f.Disposition == "" || e.disposition == string(f.Disposition)) &&
		(f.Direction == "" || e.direction == string(f.Direction))
}

// apply takes in a committed batch's creates and finishes that succeeded.
func (r *recentRecords) apply(batch []*writeReq, errs []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range batch {
		if errs[i] != nil {
			continue
		}
		switch w.kind {
		case writeRecordCreate:
			r.add(&w.rec)
		case writeRecordFinish:
			r.setDisposition(recordKey{at: w.rec.StartedAt, id: w.rec.ID}, w.rec.Disposition)
		}
	}
}
