package store

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// A record keeps the trunk its call came in on and the one it left on, as
// written at the start and at the end of the call; the migration that adds
// the second runs both ways and keeps the records.
func TestCallRecordTrunks(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	start := time.Now().UTC().Truncate(time.Microsecond)
	tests := []struct {
		name             string
		dir              call.Direction
		atStart, in, out string
	}{
		{"inbound, answered here", call.Inbound, "trk_in", "trk_in", ""},
		{"inbound, sent back out", call.Inbound, "trk_in", "trk_in", "trk_out"},
		{"outbound, trunk chosen while dialling", call.Outbound, "", "trk_out", ""},
	}
	ids := map[string]call.ID{}
	for i, tt := range tests {
		r := &call.Record{ID: call.NewID(), SIPCallID: tt.name, Direction: tt.dir, FromNumber: "+12125550123",
			ToNumber: "+14155550100", TrunkID: tt.atStart, StartedAt: start.Add(time.Duration(i) * time.Second)}
		if err := db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		end := r.StartedAt.Add(time.Second)
		r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &end, call.Answered, call.CauseNormal, call.ByCaller
		r.TrunkID, r.OutboundTrunkID = tt.in, tt.out
		if err := db.FinishCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids[tt.name] = r.ID
	}
	check := func(step string) {
		t.Helper()
		for _, tt := range tests {
			got, err := db.GetCallRecord(ctx, ids[tt.name])
			if err != nil {
				t.Fatalf("%s: %s: %v", step, tt.name, err)
			}
			if got.TrunkID != tt.in || got.OutboundTrunkID != tt.out {
				t.Errorf("%s: %s: trunks %q, %q; want %q, %q", step, tt.name, got.TrunkID, got.OutboundTrunkID, tt.in, tt.out)
			}
		}
	}
	check("written")

	p := migrations(t, db)
	if _, err := p.DownTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.w.GetContext(ctx, &n, `SELECT count(*) FROM call_records`); err != nil || n != len(tests) {
		t.Fatalf("after down: %d records (%v)", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range tests {
		tests[i].out = "" // what the older schema did not hold
	}
	check("down and up")
}
