package media

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Strict symmetric RTP. A leg sends to the address its far end sends from
// (RFC 4961), which is what reaches phones behind NAT, but it does not
// follow just any source: it locks onto one and only a sustained, sequential
// stream may move it, as Asterisk's strictrtp and rtpengine's strict-source
// do. Every packet from another source is dropped before the relay reads it.
//
//   - Learning: a packet from the address SDP named locks the leg at once
//     (signalling vouches for it). A source that differs from it (NAT) must
//     first pass probation.
//   - Probation: probationPackets packets from one address with the same
//     SSRC and consecutive sequence numbers (RFC 3550 §5.1), the run taking at
//     least probationSpan and completed within probationWindow. A stray
//     packet, a short burst, or a spray of forged or random packets never
//     completes a run.
//   - Locked: packets from the peer pass with one comparison. Another source
//     may take over only with a completed run while the peer has been silent
//     for peerQuiet and for the source's last peerQuietPackets packets: a
//     real move (NAT rebinding, a network change) silences the old source,
//     while an attacker streaming next to a live peer never takes over, even
//     when the read loop falls behind and takes a backlog at once (the
//     peer's queued packets still come between the attacker's). Every switch
//     is logged.
//
// The PBX's own sockets (RTP ports handed out, the SIP port, on its own
// addresses) are never locked onto.
const (
	// probationPackets is 8 packets: 140 ms of audio at the usual 20 ms
	// ptime, 420 ms at 60 ms. Forging it blind needs the SSRC and the
	// sequence of a stream nobody else sees.
	probationPackets = 8
	// probationSpan rejects bursts: 8 packets sent back to back take
	// microseconds, a phone's take (ptime x 7); 100 ms is under what any
	// ptime of 20 ms or more produces.
	probationSpan = 100 * time.Millisecond
	// probationWindow bounds a run: its first probationPackets must arrive
	// within one second (8 packets of up to 120 ms ptime), and no two of its
	// packets may be further apart, so a slow trickle never adds up.
	probationWindow = time.Second
	// peerQuiet is how long the locked peer must have sent nothing before
	// another source can take over: 25 packets at 20 ms, far beyond the gaps
	// of a live stream, short enough for a phone that moved to be heard again
	// in about half a second.
	peerQuiet = 500 * time.Millisecond
	// peerQuietPackets is how many packets in a row, with none of the
	// peer's between them, a source must send before it may take over. Time
	// alone is not enough: packets are timed as the read loop takes them,
	// so a loop that was held up half a second finds the peer "silent" that
	// long, although its packets wait in the socket among the others. A
	// phone that moved sends 8 packets in 160 ms (20 ms ptime) to 480 ms
	// (60 ms), inside peerQuiet.
	peerQuietPackets = 8
	// candidateSlots is how many sources can be on probation at once, so a
	// real peer's run is not reset by a spray from elsewhere.
	candidateSlots = 4
)

// latchState is the read loop's view of the far end's source. Only the
// goroutine reading the leg's socket touches it.
type latchState struct {
	gen      uint32 // the Leg.gen it was built for
	locked   bool
	peer     netip.AddrPort
	lastPeer int64 // unix ns of the peer's last packet
	// peerPackets counts the peer's packets (wrapping), so a candidate can
	// tell whether the peer was heard since its own last packet.
	peerPackets uint32
	// cands are the sources on probation, made when the first one turns up
	// and dropped once the leg locks: a leg that locks onto the address
	// SDP named, as most do, never holds them.
	cands *[candidateSlots]candidate
}

// candidate is a source on probation: its current run of sequential packets.
type candidate struct {
	src   netip.AddrPort
	ssrc  uint32
	seq   uint16
	run   int
	first int64 // unix ns of the run's first packet
	last  int64 // unix ns of the run's latest packet
	// quiet counts this source's packets since the peer's last one;
	// peerMark is the peer's packet count when it was last reset.
	quiet    int
	peerMark uint32
}

// admit reports whether a packet just read from src comes from the far end
// and may be relayed; it drops everything else. The common case, a packet
// from the locked peer, costs a comparison and allocates nothing.
func (l *Leg) admit(src netip.AddrPort, pkt []byte, now time.Time) bool {
	s := &l.latch
	if s.locked && src == s.peer && s.gen == l.gen.Load() {
		s.lastPeer = now.UnixNano()
		s.peerPackets++
		return true
	}
	if l.admitSlow(src, pkt, now) {
		return true
	}
	l.dropped.Add(1)
	return false
}

func (l *Leg) admitSlow(src netip.AddrPort, pkt []byte, now time.Time) bool {
	s := &l.latch
	if g := l.gen.Load(); g != s.gen {
		*s = latchState{gen: g} // SDP named a new address: learn again
	}
	ns := now.UnixNano()
	if s.locked && src == s.peer {
		s.lastPeer = ns
		s.peerPackets++
		return true
	}
	// RFC 3550 §5.1: version 2 and a whole fixed header; RTCP on the RTP port
	// (RFC 5761 §4) is never a reason to move.
	if len(pkt) < 12 || pkt[0]>>6 != 2 || (pkt[1]&0x7f >= 72 && pkt[1]&0x7f <= 76) {
		return false
	}
	if l.pool.loops(src) {
		return false
	}
	if !s.locked {
		if r := l.remote.Load(); r != nil && src == r.Addr {
			return l.lockOnto(src, ns, "signalled address")
		}
	}
	c := s.candidate(src, binary.BigEndian.Uint32(pkt[8:12]), binary.BigEndian.Uint16(pkt[2:4]), ns)
	if c.run < probationPackets || ns-c.first < int64(probationSpan) {
		return false
	}
	if s.locked && (ns-s.lastPeer < int64(peerQuiet) || c.quiet < peerQuietPackets) {
		return false // the peer is alive: the run goes on, unheard
	}
	return l.lockOnto(src, ns, "sequential stream")
}

// candidate extends the run of src with one packet, or starts it again.
func (s *latchState) candidate(src netip.AddrPort, ssrc uint32, seq uint16, ns int64) *candidate {
	if s.cands == nil {
		s.cands = new([candidateSlots]candidate)
	}
	var c *candidate
	for i := range s.cands {
		if s.cands[i].src == src {
			c = &s.cands[i]
			break
		}
	}
	if c == nil {
		// A new source takes a free slot, or the one heard from least recently.
		c = &s.cands[0]
		for i := range s.cands {
			if s.cands[i].run == 0 {
				c = &s.cands[i]
				break
			}
			if s.cands[i].last < c.last {
				c = &s.cands[i]
			}
		}
		*c = candidate{src: src, peerMark: s.peerPackets}
	}
	if c.peerMark != s.peerPackets {
		c.quiet, c.peerMark = 0, s.peerPackets
	}
	c.quiet++
	next := c.run > 0 && ssrc == c.ssrc && seq == c.seq+1 && ns-c.last <= int64(probationWindow) &&
		(c.run >= probationPackets || ns-c.first <= int64(probationWindow))
	if !next {
		c.run, c.ssrc, c.first = 0, ssrc, ns
	}
	c.run++
	c.seq, c.last = seq, ns
	return c
}

// lockOnto makes src the far end's address, unless SDP named a new address
// meanwhile. It logs: a first lock at debug level, a switch as a warning.
func (l *Leg) lockOnto(src netip.AddrPort, ns int64, why string) bool {
	s := &l.latch
	l.remoteMu.Lock()
	if l.gen.Load() != s.gen {
		l.remoteMu.Unlock()
		return false // the next packet learns against the new address
	}
	l.dst.Store(&destination{addr: src, self: l.pool.isSelfAddr(src.Addr())})
	p := src
	l.peer.Store(&p)
	l.remoteMu.Unlock()

	prev, was := s.peer, s.locked
	s.locked, s.peer, s.lastPeer = true, src, ns
	s.cands = nil
	if was {
		l.log.Warn("rtp source switched", "port", l.port, "from", prev.String(), "to", src.String(), "reason", why)
	} else {
		l.log.Debug("rtp source locked", "port", l.port, "source", src.String(), "reason", why)
	}
	return true
}
