//go:build unix

package media

import (
	"testing"
	"time"
)

// TestDiscardQueuedDeadlines: the non-blocking drain takes every queued
// datagram whatever read deadline an earlier reader left on the socket
// (Listen and a stopped relay leave one in the past), so Discard never falls
// back to waiting out its window.
func TestDiscardQueuedDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline func() time.Time
	}{
		{"no deadline", func() time.Time { return time.Time{} }},
		{"a deadline in the past", func() time.Time { return time.Now().Add(-time.Second) }},
		{"a deadline now", time.Now},
		{"a deadline ahead", func() time.Time { return time.Now().Add(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, _ := legWithQueued(t, 3, 172)
			if err := l.conn.SetReadDeadline(tc.deadline()); err != nil {
				t.Fatal(err)
			}
			n, ok := l.discardQueued()
			if !ok || n != 3 {
				t.Fatalf("discardQueued = %d, %v; want 3, true", n, ok)
			}
		})
	}
}
