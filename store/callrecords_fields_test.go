package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// Every field of a record reads back as written, whichever way it is read:
// one record, a page of the list, or the stream of all of them. Records
// that leave fields empty read back with them empty.
func TestCallRecordFieldsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	start := time.Date(2026, 11, 2, 9, 30, 0, 123456000, time.UTC)
	answered, ended := start.Add(4*time.Second), start.Add(65*time.Second)
	tests := []struct {
		name string
		rec  call.Record
	}{
		{"every field", call.Record{
			SIPCallID: "a84b4c76e66710@pc33", Direction: call.Inbound, FromNumber: "+12125550123", FromName: "Ann Lee",
			ToNumber: "+14155550100", TrunkID: "trk_in", OutboundTrunkID: "trk_out", NumberID: "num_1", Attempts: 2,
			Dialled: "4155550100", CallerIDPresented: "anonymous", StartedAt: start, AnsweredAt: &answered, EndedAt: &ended,
			Disposition: call.Answered, HangupCause: call.CauseNormal, HangupBy: call.ByCallee,
			Caller:   call.LegQuality{Codec: "PCMA", PacketsIn: 3000, PacketsOut: 2999, BytesIn: 516000, BytesOut: 515828, Lost: 1, JitterMs: 1.25},
			Callee:   call.LegQuality{Codec: "PCMU", PacketsIn: 2998, PacketsOut: 3000, BytesIn: 515656, BytesOut: 516000, Lost: 2, JitterMs: 0.5},
			PlanPath: []call.PlanStep{{PlanID: "pln_1", Node: "menu", Kind: "menu", Digits: "2", Result: "matched", At: start.Add(time.Second)}},
		}},
		{"unanswered, nothing optional", call.Record{
			Direction: call.Internal, FromNumber: "100", ToNumber: "200", StartedAt: start.Add(time.Minute), EndedAt: &ended,
			Disposition: call.NoAnswer, HangupCause: call.CauseNoAnswer, HangupBy: call.BySystem,
		}},
	}
	want := map[call.ID]*call.Record{}
	for _, tt := range tests {
		r := tt.rec
		r.ID = call.NewID()
		if err := db.CreateCallRecord(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishCallRecord(ctx, &r); err != nil {
			t.Fatal(err)
		}
		want[r.ID] = &r
	}
	same := func(how string, got *call.Record) {
		t.Helper()
		w, ok := want[got.ID]
		if !ok {
			t.Fatalf("%s: record %s was never written", how, got.ID)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", how, got, w)
		}
	}
	for id := range want {
		got, err := db.GetCallRecord(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		same("get", got)
	}
	page, err := db.ListCallRecords(ctx, call.Filter{}, core.PageRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("first page: %d records, cursor %q; want 1 and a cursor", len(page.Items), page.NextCursor)
	}
	same("list, first page", page.Items[0])
	page, err = db.ListCallRecords(ctx, call.Filter{}, core.PageRequest{Limit: 1, Cursor: page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.NextCursor != "" {
		t.Fatalf("second page: %d records, cursor %q; want 1 and none", len(page.Items), page.NextCursor)
	}
	same("list, second page", page.Items[0])
	n := 0
	if err := db.EachCallRecord(ctx, call.Filter{}, func(r *call.Record) error { n++; same("each", r); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("each: %d records, want %d", n, len(want))
	}
	// What the callback returns stops the stream and comes back as it is.
	stop := errors.New("enough")
	if err := db.EachCallRecord(ctx, call.Filter{}, func(*call.Record) error { return stop }); err != stop {
		t.Fatalf("each stopped by its callback: %v, want %v", err, stop)
	}
	if _, err := db.GetCallRecord(ctx, "cal_missing"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing record: %v, want not found", err)
	}
}
