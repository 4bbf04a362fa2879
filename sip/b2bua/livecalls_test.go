package b2bua

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
)

// TestCallsJudgesTheSnapshot: while transfers change the numbers of half the
// calls, a member's page holds only calls from or to its number as
// snapshotted, and is full as long as enough such calls are up.
func TestCallsJudgesTheSnapshot(t *testing.T) {
	b := &B2BUA{calls: map[call.ID]*Call{}}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var moving []*Call
	for i := range 100 {
		c := &Call{id: call.ID(fmt.Sprintf("call_%03d", i)), rec: call.Record{FromNumber: "1001", ToNumber: "1002",
			StartedAt: start.Add(time.Duration(i) * time.Millisecond)}}
		if i%2 == 0 {
			c.rec.FromNumber = "3001"
			moving = append(moving, c)
		}
		c.publishHead()
		b.listLocked(c)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; !stop.Load(); n++ {
			for _, c := range moving {
				c.mu.Lock()
				c.setToNumber([]string{"1002", "2002"}[n%2])
				c.mu.Unlock()
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	q := call.LiveQuery{ByNumber: true, Number: "1002", Limit: 10}
	for range 2000 {
		page := b.Calls(q)
		if len(page) != q.Limit {
			t.Fatalf("a page of %d calls, with 50 calls to 1002 that never move", len(page))
		}
		for i, s := range page {
			if s.FromNumber != "1002" && s.ToNumber != "1002" {
				t.Fatalf("call %s from %s to %s on the page of 1002", s.ID, s.FromNumber, s.ToNumber)
			}
			if i > 0 && !page[i-1].StartedAt.Before(s.StartedAt) {
				t.Fatalf("page out of order at %d", i)
			}
		}
	}
}

// TestCallsLegsStandApart: the snapshots of a page share one allocation
// for their legs, yet each has its own: a call without a callee yet has one
// leg, and appending to one snapshot's legs leaves the next one's alone.
func TestCallsLegsStandApart(t *testing.T) {
	b := &B2BUA{calls: map[call.ID]*Call{}}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		c := &Call{id: call.ID(fmt.Sprintf("call_%d", i)), rec: call.Record{FromNumber: "1001", ToNumber: fmt.Sprint(2000 + i),
			StartedAt: start.Add(time.Duration(i) * time.Second)}, aLeg: &media.Leg{}}
		if i%2 == 1 {
			c.b, c.bLeg, c.bContact = &leanDialog{}, &media.Leg{}, fmt.Sprintf("sip:%d@127.0.0.1", 2000+i)
		}
		b.listLocked(c)
	}
	for _, limit := range []int{0, 1, 4, 6} {
		page := b.Calls(call.LiveQuery{Limit: limit})
		want := limit
		if limit == 0 {
			want = 6
		}
		if len(page) != want {
			t.Fatalf("limit %d: %d calls, want %d", limit, len(page), want)
		}
		for i, s := range page {
			want := []string{"caller"}
			if i%2 == 1 {
				want = append(want, "callee")
			}
			if len(s.Legs) != len(want) {
				t.Fatalf("limit %d: call %s has %d legs, want %d", limit, s.ID, len(s.Legs), len(want))
			}
			for j, l := range s.Legs {
				if l.Role != want[j] {
					t.Fatalf("limit %d: call %s leg %d is %q, want %q", limit, s.ID, j, l.Role, want[j])
				}
			}
			if i+1 < len(page) {
				next := page[i+1].Legs[0]
				_ = append(s.Legs, call.LegSnapshot{Role: "intruder"})
				if page[i+1].Legs[0] != next {
					t.Fatalf("limit %d: appending to %s's legs changed %s's", limit, s.ID, page[i+1].ID)
				}
			}
		}
	}
}

// TestCallHead: a call's head is read under its lock until it is
// published, then without it, and follows every change of the callee's
// number; once published, reading it does not wait for the call's lock.
func TestCallHead(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &Call{id: "call_1", rec: call.Record{FromNumber: "1001", ToNumber: "800", StartedAt: start}}
	want := func(step, to string) {
		t.Helper()
		h := c.head()
		if h.ID != c.id || h.StartedAt != start.UnixNano() || h.FromNumber != "1001" || h.ToNumber != to {
			t.Fatalf("%s: head %+v, want to %s", step, h, to)
		}
	}
	want("unpublished", "800")
	c.mu.Lock()
	c.rec.ToNumber = "801" // before the call is tracked, the record alone
	c.publishHead()
	c.mu.Unlock()
	want("published", "801")
	for _, to := range []string{"1002", "+15551230000", "1002"} {
		c.mu.Lock()
		c.setToNumber(to)
		c.mu.Unlock()
		want("set to "+to, to)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	done := make(chan call.LiveHead, 1)
	go func() { done <- c.head() }()
	select {
	case h := <-done:
		if h.ToNumber != "1002" {
			t.Fatalf("head read while the call is locked: %+v", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("head waited for the call's lock")
	}
}

// BenchmarkCalls: a page of 50 of 400 live calls with both legs, as the live
// calls list reads it, for everyone and for a member.
func BenchmarkCalls(b *testing.B) {
	e := &B2BUA{calls: map[call.ID]*Call{}}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 400 {
		c := &Call{id: call.ID(fmt.Sprintf("call_%03d", i)), rec: call.Record{FromNumber: "1001",
			ToNumber: fmt.Sprint(2000 + i%4), StartedAt: start.Add(time.Duration(i) * time.Millisecond)},
			b: &leanDialog{}, bContact: "sip:2000@127.0.0.1:5062", aLeg: &media.Leg{}, bLeg: &media.Leg{}}
		c.publishHead()
		e.listLocked(c)
	}
	for _, bc := range []struct {
		name string
		q    call.LiveQuery
	}{
		{"all", call.LiveQuery{Limit: 51}},
		{"member", call.LiveQuery{ByNumber: true, Number: "2001", Limit: 51}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(e.Calls(bc.q)) == 0 {
					b.Fatal("no calls")
				}
			}
		})
	}
}
