package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// TestListCallRecordsPages: every filter, paged with small limits through
// the keyset cursor, yields exactly the matching records newest first
// (ties on started_at by id), as a scan of all records says; the CSV
// stream (EachCallRecord) yields the same.
func TestListCallRecordsPages(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	numbers := []string{"1001", "1002", "1003", "+14155550100"}
	dispositions := []call.Disposition{call.Answered, call.NoAnswer, call.Busy}
	var all []*call.Record
	for i := range 120 {
		// Several records share a start time, so pages split ties.
		start := base.Add(time.Duration(i/3) * time.Second)
		r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("c%d@test", i), Direction: call.Internal,
			FromNumber: numbers[i%4], ToNumber: numbers[(i/4)%4], StartedAt: start}
		if i%5 == 0 {
			r.Direction = call.Inbound
		}
		end := start.Add(time.Second)
		r.EndedAt, r.Disposition = &end, dispositions[i%3]
		if err := db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b *call.Record) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(string(b.ID), string(a.ID))
	})
	filters := []call.Filter{
		{},
		{Number: "1001"},
		{Number: "1002", Disposition: call.Answered},
		{Number: "+14155550100", Direction: call.Inbound},
		{Number: "1003", From: base.Add(5 * time.Second), To: base.Add(30 * time.Second)},
		{Disposition: call.Busy, Direction: call.Internal},
		{Number: "9999"},
	}
	for _, f := range filters {
		var want []call.ID
		for _, r := range all {
			if (f.Number == "" || r.FromNumber == f.Number || r.ToNumber == f.Number) &&
				(f.Disposition == "" || r.Disposition == f.Disposition) && (f.Direction == "" || r.Direction == f.Direction) &&
				(f.From.IsZero() || !r.StartedAt.Before(f.From)) && (f.To.IsZero() || r.StartedAt.Before(f.To)) {
				want = append(want, r.ID)
			}
		}
		for _, limit := range []int{1, 7, 500} {
			t.Run(fmt.Sprintf("%+v/limit%d", f, limit), func(t *testing.T) {
				var got []call.ID
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > len(all)+1 {
						t.Fatal("paging does not end")
					}
					page, err := db.ListCallRecords(ctx, f, core.PageRequest{Limit: limit, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Items) > limit {
						t.Fatalf("page of %d records, limit %d", len(page.Items), limit)
					}
					for _, r := range page.Items {
						got = append(got, r.ID)
					}
					if cursor = page.NextCursor; cursor == "" {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paged %d records %v\nwant %d %v", len(got), got, len(want), want)
				}
			})
		}
		var streamed []call.ID
		if err := db.EachCallRecord(ctx, f, func(r *call.Record) error { streamed = append(streamed, r.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(streamed, want) {
			t.Fatalf("%+v: streamed %d records, want %d", f, len(streamed), len(want))
		}
	}
}

// TestListCallRecordsByNumberUsesIndexes: a page of a number's records
// reads the two number indexes in order, without sorting the number's
// every record.
func TestListCallRecordsByNumberUsesIndexes(t *testing.T) {
	db, _ := openTest(t)
	q, args := callRecordQuery(call.Filter{Number: "1001", Disposition: call.Answered}, &recordKey{at: 1, id: "call_x"}, 51)
	rows, err := db.r.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	for _, want := range []string{"INDEX call_records_from_started", "INDEX call_records_to_started"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan does not use %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "MULTI-INDEX OR") {
		t.Errorf("plan reads every record of the number:\n%s", text)
	}
}
