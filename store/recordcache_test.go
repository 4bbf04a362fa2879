package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// TestListCallRecordsFollowsWrites: a page read while records are open,
// again once they are finished, and again after a record is finished a
// second time, always holds what GetCallRecord reads, whichever pages were
// read (and kept) before.
func TestListCallRecordsFollowsWrites(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var recs []*call.Record
	for i := range 6 {
		r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("w%d@test", i), Direction: call.Internal,
			FromNumber: "1001", ToNumber: "1002", StartedAt: base.Add(time.Duration(i) * time.Second)}
		if err := db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	finish := func(r *call.Record, cause string, by call.Party) {
		t.Helper()
		a, e := r.StartedAt.Add(time.Second), r.StartedAt.Add(3*time.Second)
		r.AnsweredAt, r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &a, &e, call.Answered, cause, by
		r.Caller = call.LegQuality{Codec: "PCMA", PacketsIn: 150, PacketsOut: 149}
		if err := db.FinishCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	filters := []struct {
		name string
		f    call.Filter
		p    core.PageRequest
	}{
		{"newest", call.Filter{}, core.PageRequest{}},
		{"small pages", call.Filter{}, core.PageRequest{Limit: 2}},
		{"number", call.Filter{Number: "1002"}, core.PageRequest{Limit: 4}},
		{"answered", call.Filter{Disposition: call.Answered}, core.PageRequest{}},
	}
	check := func(step string) {
		t.Helper()
		for _, tt := range filters {
			p := tt.p
			for {
				page, err := db.ListCallRecords(ctx, tt.f, p)
				if err != nil {
					t.Fatalf("%s, %s: %v", step, tt.name, err)
				}
				for _, got := range page.Items {
					want, err := db.GetCallRecord(ctx, got.ID)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s, %s: listed %+v, stored %+v", step, tt.name, got, want)
					}
				}
				if page.NextCursor == "" {
					break
				}
				p.Cursor = page.NextCursor
			}
		}
	}
	check("all open")
	finish(recs[1], call.CauseNormal, call.ByCaller)
	finish(recs[4], call.CauseNormal, call.ByCallee)
	check("two finished")
	check("two finished, read again")
	for _, r := range recs {
		if r.EndedAt == nil {
			finish(r, call.CauseNormal, call.ByCaller)
		}
	}
	check("all finished")
	// A record finished again (nothing does this today) is listed as it
	// now is, not as it was kept.
	finish(recs[4], "failure", call.ByCaller)
	check("finished again")
	page, err := db.ListCallRecords(ctx, call.Filter{}, core.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(recs) || page.Items[1].ID != recs[4].ID || page.Items[1].HangupCause != "failure" {
		t.Fatalf("newest page after the second finish: %d records, second %+v", len(page.Items), page.Items[1])
	}
}

func cacheRecords(n int) []*call.Record {
	recs := make([]*call.Record, n)
	for i := range recs {
		recs[i] = &call.Record{ID: call.ID(fmt.Sprintf("call_%06d", i))}
	}
	return recs
}

func TestRecordCacheKeeps(t *testing.T) {
	tests := []struct {
		name      string
		kept      int  // records kept, oldest first
		overlap   bool // a finish is committed between lookup and keep
		wantFirst bool // the first record kept is still there
		wantLast  bool
	}{
		{"a few", 10, false, true, true},
		{"a full cache", recordCacheSize, false, true, true},
		{"more than fit: the oldest go", recordCacheSize + 10, false, false, true},
		{"three times more", 3 * recordCacheSize, false, false, true},
		{"a read that overlapped a finish", 10, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c recordCache
			recs := cacheRecords(tt.kept)
			gen := c.lookup(nil, nil)
			if tt.overlap {
				c.finished([]string{"call_other"})
			}
			c.keep(gen, recs)
			if len(c.m) > recordCacheSize {
				t.Fatalf("%d records kept, at most %d", len(c.m), recordCacheSize)
			}
			last := string(recs[len(recs)-1].ID)
			keys := []recordKey{{id: string(recs[0].ID)}, {id: last}, {id: "call_never_kept"}}
			out := make([]*call.Record, len(keys))
			c.lookup(keys, out)
			if got := out[0] != nil; got != tt.wantFirst {
				t.Errorf("first kept: %v, want %v", got, tt.wantFirst)
			}
			if got := out[1] != nil; got != tt.wantLast {
				t.Errorf("last kept: %v, want %v", got, tt.wantLast)
			}
			if out[2] != nil {
				t.Error("a record never kept was found")
			}
		})
	}
}

func TestRecordCacheFinishedDrops(t *testing.T) {
	var c recordCache
	recs := cacheRecords(3)
	c.keep(c.lookup(nil, nil), recs)
	c.finished([]string{string(recs[1].ID)})
	out := make([]*call.Record, 3)
	c.lookup([]recordKey{{id: string(recs[0].ID)}, {id: string(recs[1].ID)}, {id: string(recs[2].ID)}}, out)
	if out[0] != recs[0] || out[1] != nil || out[2] != recs[2] {
		t.Fatalf("after a finish of the second: %v", out)
	}
}

// TestListCallRecordsAfterDanglingClosed: records listed while open, and so
// kept, are listed as closed once a restart closed them, whatever the filter.
func TestListCallRecordsAfterDanglingClosed(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("d%d@test", i), Direction: call.Internal,
			FromNumber: "1001", ToNumber: "1002", StartedAt: base.Add(time.Duration(i) * time.Second)}
		if err := db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	list := func(f call.Filter) []*call.Record {
		t.Helper()
		page, err := db.ListCallRecords(ctx, f, core.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return page.Items
	}
	for _, r := range list(call.Filter{}) {
		if r.EndedAt != nil {
			t.Fatalf("open record listed as ended: %+v", r)
		}
	}
	if n, err := db.CloseDanglingCallRecords(ctx, base.Add(time.Minute), call.CauseShutdown); err != nil || n != 3 {
		t.Fatalf("closed %d: %v", n, err)
	}
	for _, r := range list(call.Filter{}) {
		if r.EndedAt == nil || r.Disposition != call.Failed || r.HangupCause != call.CauseShutdown {
			t.Fatalf("closed record listed as %+v", r)
		}
	}
	// The disposition filter finds them too (recentRecords).
	if got := list(call.Filter{Disposition: call.Failed}); len(got) != 3 {
		t.Fatalf("%d records listed as failed, want 3", len(got))
	}
}

// TestRecordCacheKeptAgainHoldsOneSlot: a record kept while open, finished
// and kept again takes one place in the cache, so it stays until
// recordCacheSize records were kept after it.
func TestRecordCacheKeptAgainHoldsOneSlot(t *testing.T) {
	var c recordCache
	r := &call.Record{ID: "call_kept_twice"}
	c.keep(c.lookup(nil, nil), []*call.Record{r})
	c.finished([]string{string(r.ID)})
	c.keep(c.lookup(nil, nil), []*call.Record{r})
	c.keep(c.lookup(nil, nil), cacheRecords(recordCacheSize-1))
	out := make([]*call.Record, 1)
	c.lookup([]recordKey{{id: string(r.ID)}}, out)
	if out[0] != r {
		t.Fatalf("dropped after %d others were kept, with room for %d", recordCacheSize-1, recordCacheSize)
	}
}
