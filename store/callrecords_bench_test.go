package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// BenchmarkListCallRecords reads the pages the API load benchmark asks for
// from 6,000 answered calls between two extensions: as a poll reads them,
// the finished records kept from the last read, and with nothing kept.
func BenchmarkListCallRecords(b *testing.B) {
	db, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6000 {
		r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("%d@test", i), Direction: call.Internal,
			FromNumber: "1001", ToNumber: "1002", StartedAt: start.Add(time.Duration(i) * 5 * time.Millisecond)}
		a, e := r.StartedAt.Add(time.Second), r.StartedAt.Add(3*time.Second)
		r.AnsweredAt, r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &a, &e, call.Answered, call.CauseNormal, call.ByCaller
		r.Caller = call.LegQuality{Codec: "PCMA", PacketsIn: 100, PacketsOut: 100, BytesIn: 17200, BytesOut: 17200}
		r.Callee = r.Caller
		if err := db.QueueCallRecordCreate(r); err != nil {
			b.Fatal(err)
		}
		if err := db.QueueCallRecordFinish(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    call.Filter
		p    core.PageRequest
		cold bool // every read finds no record kept (recordCache)
	}{
		{"newest", call.Filter{}, core.PageRequest{}, false},
		{"newest/nothing-kept", call.Filter{}, core.PageRequest{}, true},
		{"caller", call.Filter{Number: "1001"}, core.PageRequest{Limit: 20}, false},
		{"callee", call.Filter{Number: "1002"}, core.PageRequest{Limit: 20}, false},
		{"filter", call.Filter{Direction: call.Internal, Disposition: call.Answered}, core.PageRequest{Limit: 100}, false},
		{"filter/nothing-kept", call.Filter{Direction: call.Internal, Disposition: call.Answered}, core.PageRequest{Limit: 100}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c.cold {
					db.records.mu.Lock()
					clear(db.records.m)
					db.records.mu.Unlock()
				}
				page, err := db.ListCallRecords(context.Background(), c.f, c.p)
				if err != nil || len(page.Items) == 0 {
					b.Fatal(len(page.Items), err)
				}
			}
		})
	}
}
