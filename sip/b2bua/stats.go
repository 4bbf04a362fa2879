package b2bua

import (
	"time"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
)

// Observer is told about calls as they are answered and end, for monitoring.
// Its methods are called once per call event, never per packet, and must
// return quickly.
type Observer interface {
	// CallAnswered reports the setup time of an answered call: from its
	// INVITE (or click-to-call request) to the answer.
	CallAnswered(dir call.Direction, setup time.Duration)
	// CallEnded reports a call's final record, with each leg's media summary.
	CallEnded(rec call.Record)
}

// SetObserver makes the B2BUA report call events to o. Set it before calls
// arrive (before the SIP front serves).
func (b *B2BUA) SetObserver(o Observer) { b.observer = o }

// Stats is a snapshot of the B2BUA for monitoring.
type Stats struct {
	// ActiveCalls are the calls in progress: routing, ringing or answered.
	ActiveCalls int
	// Media sums the RTP counters of every leg since start: the legs of
	// ended calls and, as they are now, those of calls in progress. Each
	// counter only grows.
	Media media.Stats
}

// mediaTotals are the media counters of the legs of ended calls; under B2BUA.mu.
type mediaTotals struct {
	packetsIn, bytesIn, packetsOut, bytesOut, dropped uint64
}

func (t *mediaTotals) add(s media.Stats) {
	t.packetsIn += s.PacketsIn
	t.bytesIn += s.BytesIn
	t.packetsOut += s.PacketsOut
	t.bytesOut += s.BytesOut
	t.dropped += s.Dropped
}

// Stats reads the counters. The totals of ended calls and the list of live
// ones are taken together, so each call counts once, in one or the other (a
// call ending meanwhile keeps its final counts); the legs' atomics are read
// without holding the B2BUA's lock.
func (b *B2BUA) Stats() Stats {
	b.mu.Lock()
	t := b.ended
	live := b.callsLocked(nil)
	b.mu.Unlock()
	for _, c := range live {
		for _, l := range c.mediaLegs() {
			t.add(l.Stats())
		}
	}
	return Stats{ActiveCalls: len(live), Media: media.Stats{
		PacketsIn: t.packetsIn, BytesIn: t.bytesIn, PacketsOut: t.packetsOut, BytesOut: t.bytesOut, Dropped: t.dropped,
	}}
}

// mediaLegs are the call's RTP legs that exist.
func (c *Call) mediaLegs() []*media.Leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	legs := make([]*media.Leg, 0, 2)
	for _, l := range []*media.Leg{c.aLeg, c.bLeg} {
		if l != nil {
			legs = append(legs, l)
		}
	}
	return legs
}

// retireLocked moves the media counters of a call that leaves the B2BUA into
// the totals of ended calls, under b.mu, so a scrape counts them exactly once.
func (b *B2BUA) retireLocked(c *Call) {
	for _, l := range c.mediaLegs() {
		b.ended.add(l.Stats())
	}
}

func (b *B2BUA) observeAnswer(dir call.Direction, setup time.Duration) {
	if b.observer != nil {
		b.observer.CallAnswered(dir, setup)
	}
}

func (b *B2BUA) observeEnd(rec call.Record) {
	if b.observer != nil {
		b.observer.CallEnded(rec)
	}
}
