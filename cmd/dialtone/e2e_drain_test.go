package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
	"github.com/dialtone-pbx/dialtone/store"
)

// TestShutdownDrainsLiveCalls: stopping the server with calls up (answered
// and ringing) hangs them up and writes every record, finished, and every
// call's events through call.ended before the database closes.
func TestShutdownDrainsLiveCalls(t *testing.T) {
	var dir string
	p := startPBX(t, time.Minute, func(c *serveCmd) { dir = c.Data })
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	const answered = 4
	var hungUp []*siptest.Call
	for i := range answered {
		a := p.extension(fmt.Sprintf("31%d1", i), nil)
		b := p.extension(fmt.Sprintf("31%d2", i), nil)
		caller := p.phone(a, 0, siptest.AnswerNow, "")
		callee := p.phone(b, 0, siptest.AnswerNow, "")
		out, err := caller.Dial(ctx, b.Number)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		in, err := callee.Incoming(ctx)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		hungUp = append(hungUp, out, in)
	}
	ringer := p.phone(p.extension("3191", nil), 0, siptest.AnswerNow, "")
	never := p.extension("3192", nil)
	p.phone(never, 0, siptest.RingForever, "")
	ringing := make(chan error, 1)
	go func() { _, err := ringer.Dial(ctx, never.Number); ringing <- err }()
	if !eventually(5*time.Second, func() bool { return p.app.sip.B2BUA.Live() == answered+1 }) {
		t.Fatalf("%d live calls, want %d", p.app.sip.B2BUA.Live(), answered+1)
	}
	// The ringing call is ringing: its callee's 180 has reached the PBX.
	if !eventually(5*time.Second, func() bool {
		evs, err := p.app.db.EventsAfter(context.Background(), 0, store.EventFilter{Types: []string{"call.ringing"}}, 100)
		return err == nil && len(evs) == answered+1
	}) {
		t.Fatal("the last call never rang")
	}

	p.stop()

	for i, c := range hungUp {
		select {
		case <-c.HungUp():
		case <-ctx.Done():
			t.Fatalf("party %d of an answered call got no BYE", i)
		}
	}
	if err := <-ringing; err == nil {
		t.Fatal("the ringing call was answered")
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.ListCallRecords(context.Background(), call.Filter{}, core.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != answered+1 {
		t.Fatalf("%d records for %d calls", len(page.Items), answered+1)
	}
	evs, err := db.EventsAfter(context.Background(), 0, store.EventFilter{Types: []string{"call.*"}}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	byCall := map[string][]core.EventType{}
	for _, e := range evs {
		byCall[e.OrderKey] = append(byCall[e.OrderKey], e.Type)
	}
	nAnswered := 0
	for _, r := range page.Items {
		if r.EndedAt == nil {
			t.Fatalf("record %s left open: %+v", r.ID, r)
		}
		got := byCall["call:"+string(r.ID)]
		want := []core.EventType{core.EventCallCreated, core.EventCallRinging, core.EventCallAnswered, core.EventCallEnded}
		if r.Disposition == call.Answered {
			nAnswered++
			if r.HangupCause != call.CauseShutdown {
				t.Fatalf("record %s: cause %q", r.ID, r.HangupCause)
			}
		} else {
			want = []core.EventType{core.EventCallCreated, core.EventCallRinging, core.EventCallEnded}
		}
		if !slices.Equal(got[:min(len(got), len(want))], want) {
			t.Fatalf("call %s (%s): events %v, want %v first", r.ID, r.Disposition, got, want)
		}
	}
	if nAnswered != answered {
		t.Fatalf("%d answered records, want %d", nAnswered, answered)
	}
}

// TestDeepWriteBacklogRefusesCalls: while the database cannot keep up (here:
// another process holds its write lock) and the backlog reaches
// --max-write-backlog, new calls get 503 with Retry-After; once the writes
// commit, calls go through again.
func TestDeepWriteBacklogRefusesCalls(t *testing.T) {
	var dir string
	p := startPBX(t, time.Minute, func(c *serveCmd) { dir = c.Data; c.MaxWriteBacklog = 1 })
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	a, b := p.extension("3201", nil), p.extension("3202", nil)
	caller := p.phone(a, 0, siptest.AnswerNow, "")
	p.phone(b, 0, siptest.AnswerNow, "")
	// What the phones' registrations queued commits first: the backlog
	// below is the one event queued behind the lock.
	if err := p.app.db.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	other, err := sqlx.Open("sqlite3", "file:"+filepath.Join(dir, store.FileName)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if err := p.app.db.QueueEvents(core.NewEvent(core.EventCallCreated, time.Now(), "test", nil, nil)); err != nil {
		t.Fatal(err)
	}
	_, err = caller.Dial(ctx, b.Number)
	var de *siptest.DialError
	if !errors.As(err, &de) || de.Code != 503 {
		t.Fatalf("dial with a deep backlog: %v, want 503", err)
	}
	retry := de.Res.GetHeader("Retry-After")
	if retry == nil {
		t.Fatal("503 without Retry-After")
	}
	if secs, err := strconv.Atoi(retry.Value()); err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", retry.Value())
	}
	if st := p.app.db.WriteStats(); st.Shed != 1 || st.Backlog != 1 {
		t.Fatalf("write stats %+v", st)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { return p.app.db.WriteBacklog() == 0 }) {
		t.Fatalf("backlog %d after the lock was released", p.app.db.WriteBacklog())
	}
	out, err := caller.Dial(ctx, b.Number)
	if err != nil {
		t.Fatalf("dial once the backlog drained: %v", err)
	}
	out.Hangup(ctx)
	if rec := p.lastRecord(); rec.Disposition != "answered" {
		t.Fatalf("record %+v", rec)
	}
}
