package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/store"
)

// liveCalls is a call engine with a fixed set of calls in progress.
type liveCalls struct {
	refusingCalls
	list []call.Snapshot
}

func (c liveCalls) Calls(q call.LiveQuery) []call.Snapshot {
	return selectSnapshots(c.list, q)
}

func snapshots(n int) []call.Snapshot {
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	out := make([]call.Snapshot, n)
	for i := range out {
		answered := start.Add(time.Duration(i)*time.Millisecond + 700*time.Millisecond)
		q := call.LegQuality{Codec: "PCMA", PacketsIn: 1200 + uint64(i), PacketsOut: 1190, BytesIn: 206400, BytesOut: 204680, Lost: 3, JitterMs: 1.25}
		out[i] = call.Snapshot{
			ID: call.NewID(), SIPCallID: fmt.Sprintf("%d-12345@127.0.0.81", i), Direction: call.Internal, State: call.StateAnswered,
			FromNumber: "1001", FromName: "Caller \"One\"", ToNumber: "1002", StartedAt: start.Add(time.Duration(i) * time.Millisecond),
			AnsweredAt: &answered,
			Legs: []call.LegSnapshot{
				{Role: "caller", Number: "1001", Quality: q},
				{Role: "callee", Number: "1002", Contact: "sip:1002@127.0.0.82:25962", Quality: q},
			},
		}
	}
	return out
}

// readsEnv is the API on a database holding records call records and an
// engine holding live calls in progress.
func readsEnv(tb testing.TB, records, live int) http.Handler {
	tb.Helper()
	return readsEnvWith(tb, records, liveCalls{list: snapshots(live)})
}

// readsEnvWith is readsEnv with the given call engine.
func readsEnvWith(tb testing.TB, records int, calls call.Control) http.Handler {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys := &core.APIKeys{Repo: db, Extensions: db}
	if _, _, err := keys.Bootstrap(ctx, adminKey); err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range records {
		r := &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("%d@test", i), Direction: call.Internal,
			FromNumber: "1001", ToNumber: "1002", StartedAt: start.Add(time.Duration(i) * 5 * time.Millisecond)}
		a, e := r.StartedAt.Add(time.Second), r.StartedAt.Add(3*time.Second)
		r.AnsweredAt, r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &a, &e, call.Answered, call.CauseNormal, call.ByCaller
		r.Caller = call.LegQuality{Codec: "PCMA", PacketsIn: 100, PacketsOut: 100, BytesIn: 17200, BytesOut: 17200}
		r.Callee = r.Caller
		if err := db.QueueCallRecordCreate(r); err != nil {
			tb.Fatal(err)
		}
		if err := db.QueueCallRecordFinish(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	return api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db, CallRecords: db,
		Calls: calls, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// BenchmarkReads is the server's own cost of the reads of the API load
// benchmark (bench/api-bench.sh), without the network: 2,000 records, 400
// calls in progress.
func BenchmarkReads(b *testing.B) {
	h := readsEnv(b, 2000, 400)
	for _, c := range []struct{ name, path string }{
		{"healthz", "/healthz"},
		{"calls", "/v1/calls"},
		{"records", "/v1/call-records"},
		{"records-number", "/v1/call-records?limit=20&number=1001"},
		{"records-filter", "/v1/call-records?limit=100&direction=internal&disposition=answered"},
	} {
		path := c.path
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.RemoteAddr = "127.0.0.1:40000"
			var n int
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
				n = w.Body.Len()
			}
			b.ReportMetric(float64(n), "bytes/op")
		})
	}
}
