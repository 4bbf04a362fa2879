package media

import (
	"net"
	"testing"
	"time"
)

// TestDiscard: every datagram queued before Discard is dropped, whatever
// its size, and what is sent after it is read as usual.
func TestDiscard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued int
		size   int
	}{
		{"nothing queued", 0, 172},
		{"one packet", 1, 172},
		{"a second of audio", 50, 172},
		{"empty datagrams", 5, 0},
		{"full-size datagrams", 20, 1400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, far, to := legWithQueued(t, tc.queued, tc.size)
			if got := l.Discard(); got != tc.queued {
				t.Fatalf("Discard dropped %d datagrams, want %d", got, tc.queued)
			}
			fresh := rtpPacket(8, 7, 160, 1, make([]byte, 160))
			if _, err := far.WriteToUDP(fresh, to); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = l.conn.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := l.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("the packet sent after Discard: %v", err)
			}
			if n != len(fresh) || buf[3] != 7 {
				t.Fatalf("read %d bytes (seq %d), want the fresh packet of %d bytes", n, buf[3], len(fresh))
			}
		})
	}
}

// TestDrainQueuedBounded: a socket that is never empty (a flood refilling
// it as fast as it is read) holds Discard for discardWindow at most, while
// a queue that empties is taken whole however long it is.
func TestDrainQueuedBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued int // -1: a flood that keeps it full
		want   func(n int) bool
	}{
		{"empty", 0, func(n int) bool { return n == 0 }},
		{"a short queue", 100, func(n int) bool { return n == 100 }},
		{"a long queue read fast", 100000, func(n int) bool { return n == 100000 }},
		{"a flood", -1, func(n int) bool { return n > 0 && n <= 4096 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			left := tc.queued
			if left < 0 {
				left = 1000000 // never empty, as far as a bounded drain goes
			}
			read := func() bool {
				if left == 0 {
					return false
				}
				left--
				return true
			}
			// The clock moves only under the flood, by a microsecond per
			// datagram taken: discardWindow passes after about 2,000.
			var clock time.Time
			now := func() time.Time {
				if tc.queued < 0 {
					clock = clock.Add(drainClockEvery * time.Microsecond)
				}
				return clock
			}
			if got := drainQueued(read, now); !tc.want(got) {
				t.Fatalf("drainQueued took %d datagrams", got)
			}
		})
	}
}

// legWithQueued makes a leg with n datagrams of size bytes queued on its
// socket, sent from far to the leg's address to. Loopback delivers before
// the send returns, so all of them are queued when it returns.
func legWithQueued(t *testing.T, n, size int) (l *Leg, far *net.UDPConn, to *net.UDPAddr) {
	t.Helper()
	l, err := newPool(t).NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	far = phone(t)
	to = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.port}
	for range n {
		if _, err := far.WriteToUDP(make([]byte, size), to); err != nil {
			t.Fatal(err)
		}
	}
	return l, far, to
}
