package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// recentFilters are list filters of every kind, alone and together.
func recentFilters(base time.Time) []call.Filter {
	return []call.Filter{
		{},
		{Number: "1001"},
		{Number: "1003"},
		{Number: "+15550100"},
		{Number: "9999"},
		{Direction: call.Inbound},
		{Disposition: call.Answered},
		{Disposition: call.Failed, Direction: call.Outbound},
		{Number: "1002", Disposition: call.NoAnswer},
		{From: base.Add(2 * time.Second)},
		{To: base.Add(3 * time.Second)},
		{From: base.Add(time.Second), To: base.Add(2500 * time.Millisecond), Number: "1001"},
		{To: base.Add(-time.Hour)},
	}
}

// sqlWalk lists the IDs of every record matching f, newest first, reading
// keys from SQL only, limit at a time, and checks on the way that every
// page the recent index answers is the page SQL reads. It returns the IDs
// and how many pages the index answered and left to SQL.
func sqlWalk(t *testing.T, db *DB, f call.Filter, limit int) (ids []string, answered, left int) {
	t.Helper()
	ctx := context.Background()
	var after *recordKey
	for {
		keys, err := db.callRecordKeys(ctx, f, after, limit+1)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := db.recent.page(f, after, limit+1); ok {
			answered++
			if !slices.Equal(got, keys) {
				t.Fatalf("filter %+v after %v limit %d: index gives %v, SQL %v", f, after, limit, got, keys)
			}
		} else {
			left++
		}
		for _, k := range keys[:min(len(keys), limit)] {
			ids = append(ids, k.id)
		}
		if len(keys) <= limit {
			return ids, answered, left
		}
		k := keys[limit-1]
		after = &k
	}
}

// listWalk lists the IDs of every record matching f through ListCallRecords.
func listWalk(t *testing.T, db *DB, f call.Filter, limit int) []string {
	t.Helper()
	var ids []string
	p := core.PageRequest{Limit: limit}
	for {
		page, err := db.ListCallRecords(context.Background(), f, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Items {
			ids = append(ids, string(r.ID))
		}
		if page.NextCursor == "" {
			return ids
		}
		p.Cursor = page.NextCursor
	}
}

// TestRecentRecordsAgreeWithSQL writes records the way calls do (created,
// some finished later, some created late, several in the same microsecond)
// into an index of a few dozen records, so that it is trimmed many times,
// and checks after each round of writes that every page of every filter is
// the same through the index as through SQL alone, and again after the
// database is opened anew and after dangling records are closed.
func TestRecentRecordsAgreeWithSQL(t *testing.T) {
	ctx := context.Background()
	db, dir := openTest(t)
	const size = 24
	if err := db.recent.load(ctx, db.w, size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(12, 34))
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	numbers := []string{"1001", "1002", "1003", "+15550100"}
	dirs := []call.Direction{call.Internal, call.Inbound, call.Outbound}
	disps := []call.Disposition{call.Answered, call.NoAnswer, call.Busy, call.Failed, call.Cancelled}
	var open []*call.Record
	answered, left := 0, 0
	check := func(step string) {
		t.Helper()
		for _, f := range recentFilters(base) {
			for _, limit := range []int{1, 3, 10, 60} {
				want, a, l := sqlWalk(t, db, f, limit)
				answered, left = answered+a, left+l
				if got := listWalk(t, db, f, limit); !slices.Equal(got, want) {
					t.Fatalf("%s: filter %+v limit %d: listed %d records %v, SQL %d %v", step, f, limit, len(got), got, len(want), want)
				}
			}
		}
	}
	check("empty")
	for round := range 8 {
		for i := range 40 {
			n := round*40 + i
			at := base.Add(time.Duration(n) * 10 * time.Millisecond)
			switch rng.IntN(10) {
			case 0: // late: queued after newer ones
				at = at.Add(-time.Duration(rng.IntN(2000)) * time.Millisecond)
			case 1: // in the same microsecond as the last one
				at = base.Add(time.Duration(n-1) * 10 * time.Millisecond)
			}
			r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("%d@test", n), Direction: dirs[rng.IntN(len(dirs))],
				FromNumber: numbers[rng.IntN(len(numbers))], ToNumber: numbers[rng.IntN(len(numbers))], StartedAt: at}
			if err := db.QueueCallRecordCreate(r); err != nil {
				t.Fatal(err)
			}
			open = append(open, r)
			if rng.IntN(3) > 0 {
				j := rng.IntN(len(open))
				f := open[j]
				open = slices.Delete(open, j, j+1)
				e := f.StartedAt.Add(time.Second)
				f.EndedAt, f.Disposition, f.HangupCause = &e, disps[rng.IntN(len(disps))], call.CauseNormal
				if err := db.QueueCallRecordFinish(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("round %d", round))
	}
	if answered == 0 || left == 0 {
		t.Fatalf("the index answered %d pages and left %d to SQL: both ways must be taken", answered, left)
	}
	if n, err := db.CloseDanglingCallRecords(ctx, base.Add(time.Hour), "restart"); err != nil || n != len(open) {
		t.Fatalf("closed %d of %d open records: %v", n, len(open), err)
	}
	check("dangling closed")

	// Opened anew, the index holds the newest records of the file.
	db.Close()
	again, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if total := 8 * 40; len(again.recent.entries) != min(total, recentRecordsSize) || again.recent.whole != (total < recentRecordsSize) {
		t.Fatalf("reopened: %d entries held, whole %v", len(again.recent.entries), again.recent.whole)
	}
	db = again
	check("reopened")
	if err := db.recent.load(ctx, db.w, size); err != nil {
		t.Fatal(err)
	}
	check("reopened, index trimmed")
}

// TestRecentRecordsTrim keeps the newest records when the index is trimmed,
// and leaves out a record created older than all it holds.
func TestRecentRecordsTrim(t *testing.T) {
	r := recentRecords{size: 3, whole: true}
	add := func(at int64, id string) {
		r.add(&callRecordRow{StartedAt: at, ID: id, FromNumber: "1", ToNumber: "2", Direction: "internal"})
	}
	for i := range 6 {
		add(int64(10+i), fmt.Sprintf("r%d", i))
	}
	if len(r.entries) != 6 || !r.whole {
		t.Fatalf("before trim: %d entries, whole %v", len(r.entries), r.whole)
	}
	add(16, "r6")  // the seventh: the oldest three go
	add(14, "r4b") // between held records: kept in order
	add(5, "old")  // below the oldest held: not held
	var ids []string
	for _, e := range r.entries {
		ids = append(ids, e.id)
	}
	if want := []string{"r3", "r4", "r4b", "r5", "r6"}; !slices.Equal(ids, want) || r.whole {
		t.Fatalf("held %v, whole %v; want %v, false", ids, r.whole, want)
	}
	// A finish found by its key, and one whose key is not held, by its ID.
	r.finished([]recordKey{{at: 15, id: "r5"}}, "answered")
	r.finished([]recordKey{{at: 99, id: "r4b"}}, "busy")
	if r.entries[3].disposition != "answered" || r.entries[2].disposition != "busy" {
		t.Fatalf("finishes not applied: %+v", r.entries)
	}
	if _, ok := r.page(call.Filter{}, nil, 10); ok {
		t.Fatal("a page deeper than the index was answered by it")
	}
	if keys, ok := r.page(call.Filter{}, nil, 2); !ok || keys[0].id != "r6" || keys[1].id != "r5" {
		t.Fatalf("newest two: %v %v", keys, ok)
	}
}
