package api

import (
	"net/netip"
	"testing"
	"time"
)

// TestAuthThrottleWindow: a source is throttled from its tenth wrong key
// within the window until the oldest of them leaves it, and the number of
// sources remembered is bounded.
func TestAuthThrottleWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := netip.MustParsePrefix("203.0.113.5/32")
	type step struct {
		at          time.Duration // since start
		fail        bool          // record a wrong key (else only ask)
		wantBlocked time.Duration // blocked() before the step's failure
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"nine failures do not throttle", []step{
			{0, true, 0}, {1 * time.Second, true, 0}, {2 * time.Second, true, 0}, {3 * time.Second, true, 0},
			{4 * time.Second, true, 0}, {5 * time.Second, true, 0}, {6 * time.Second, true, 0}, {7 * time.Second, true, 0},
			{8 * time.Second, true, 0}, {9 * time.Second, false, 0},
		}},
		{"the tenth throttles until the first leaves the window", []step{
			{0, true, 0}, {1 * time.Second, true, 0}, {2 * time.Second, true, 0}, {3 * time.Second, true, 0},
			{4 * time.Second, true, 0}, {5 * time.Second, true, 0}, {6 * time.Second, true, 0}, {7 * time.Second, true, 0},
			{8 * time.Second, true, 0}, {9 * time.Second, true, 0},
			{10 * time.Second, false, 50 * time.Second},
			{59 * time.Second, false, time.Second},
			{60 * time.Second, true, 0}, // the first left: one more try, which throttles again
			{61 * time.Second, false, 0},
		}},
		{"failures spread over more than the window never throttle", func() []step {
			var s []step
			for i := range 30 {
				s = append(s, step{time.Duration(i) * 7 * time.Second, true, 0})
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newAuthThrottle()
			var now time.Time
			th.now = func() time.Time { return now }
			for i, s := range tt.steps {
				now = start.Add(s.at)
				if got := th.blocked(src); got != s.wantBlocked {
					t.Fatalf("step %d at %v: blocked %v, want %v", i, s.at, got, s.wantBlocked)
				}
				if s.fail {
					th.fail(src)
				}
			}
		})
	}
	t.Run("throttled again after one more failure", func(t *testing.T) {
		th := newAuthThrottle()
		var now time.Time
		th.now = func() time.Time { return now }
		for i := range 10 {
			now = start.Add(time.Duration(i) * time.Second)
			th.fail(src)
		}
		now = start.Add(60 * time.Second)
		if th.blocked(src) != 0 {
			t.Fatal("still blocked once the first failure left the window")
		}
		if n, wait := th.fail(src); n != 10 || wait != time.Second {
			t.Fatalf("fail: %d %v, want 10 1s", n, wait)
		}
	})
	t.Run("sources bounded", func(t *testing.T) {
		th := newAuthThrottle()
		th.max = 3
		var now time.Time
		th.now = func() time.Time { return now }
		for i := range 5 {
			th.fail(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32))
		}
		if len(th.sources) != 3 {
			t.Fatalf("%d sources remembered, want 3", len(th.sources))
		}
		now = now.Add(time.Minute)
		th.fail(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, 9}), 32))
		if len(th.sources) != 1 {
			t.Fatalf("%d sources after expiry, want 1", len(th.sources))
		}
	})
}
