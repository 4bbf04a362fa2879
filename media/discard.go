package media

import "time"

// discardWindow bounds Discard: packets already queued are read in
// microseconds, so a couple of milliseconds empties any socket buffer. Where
// a socket cannot be read without blocking (see discardQueued), Discard
// reads until the window closes; elsewhere it returns once the socket is
// empty, and the window only stops a flood that keeps it full.
const discardWindow = 2 * time.Millisecond

// Discard drops every packet queued on the leg's socket and returns how many
// it dropped. Before a relay starts reading a leg, whatever the far end sent
// waits in the socket buffer: early media nobody relayed, a caller's audio
// while it rang. Relayed late it would reach the other party as a burst of
// stale audio, seconds of it at once; media is real time and stale RTP is
// discarded, never replayed (RFC 3550 §6.4.1 on the receiver's playout
// point; RFC 3960 §3 on early media). Nothing may be reading the leg.
//
// A call's answer waits on it, so where the socket can be read without
// blocking it takes what is queued and returns at once; elsewhere it reads
// for discardWindow.
func (l *Leg) Discard() int {
	if n, ok := l.discardQueued(); ok {
		return n
	}
	if err := l.conn.SetReadDeadline(time.Now().Add(discardWindow)); err != nil {
		return 0
	}
	defer func() { _ = l.conn.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 1500)
	n := 0
	for {
		_, _, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return n // the window closed (or the leg did)
		}
		n++
	}
}

// drainQueued calls read, which takes one queued datagram, until it reports
// none left, and returns how many it took. A flood that refills the socket
// as fast as it is read cannot hold the caller: it stops once discardWindow
// has passed (the clock is read every drainClockEvery datagrams).
func drainQueued(read func() bool, now func() time.Time) int {
	n := 0
	until := now().Add(discardWindow)
	for read() {
		n++
		if n%drainClockEvery == 0 && now().After(until) {
			break
		}
	}
	return n
}

// drainClockEvery is how many datagrams drainQueued takes between looks at
// the clock: a read takes about a microsecond.
const drainClockEvery = 256
