package b2bua

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
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
		b.calls[c.id] = c
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; !stop.Load(); n++ {
			for _, c := range moving {
				c.mu.Lock()
				c.rec.ToNumber = []string{"1002", "2002"}[n%2]
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
