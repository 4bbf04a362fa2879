package b2bua

import (
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
)

// earlyMedia relays a callee's or trunk's early media to a ringing caller
// (RFC 3960 §2, the gateway model): a provisional response with SDP from
// the far side is passed on as 183 Session Progress carrying the PBX's
// answer to the caller's offer, and the relay starts at once, so ringback
// and announcements are heard live.
//
// Forks take turns: early media comes from one B-side dialog at a time, the
// first to send SDP in a provisional; when it fails, the next that sends
// SDP takes over. Whichever fork answers, the relay carries on: the same
// media leg, pointed at the answering fork's address (Leg.SetRemote), with
// the caller's stream kept continuous (Leg.rewrite).
type earlyMedia struct {
	b   *B2BUA
	c   *Call
	dlg *sipgo.DialogServerSession

	mu      sync.Mutex
	ringing bool                       // a fork rang: the caller was told
	owner   *sipgo.DialogClientSession // the fork whose early media is relayed
	sent    bool                       // the caller has our SDP in a provisional
	ringSDP bool                       // a 180 with SDP went to the caller
}

func newEarlyMedia(b *B2BUA, c *Call, dlg *sipgo.DialogServerSession) *earlyMedia {
	return &earlyMedia{b: b, c: c, dlg: dlg}
}

// ring reports that a fork rings (180, or 183 without usable SDP): the
// caller gets 180 once and call.ringing is published once. While early
// media plays the caller gets no 180 without SDP, which would tell many
// phones to drop the early session for local ringback.
func (e *earlyMedia) ring() {
	e.mu.Lock()
	first := !e.ringing
	e.ringing = true
	sent := e.sent
	e.mu.Unlock()
	if !first {
		return
	}
	if !sent {
		_ = e.dlg.Respond(sip.StatusRinging, "Ringing", nil)
	}
	e.c.ringing()
}

// progress handles a provisional response of a fork (sess). It reports
// whether it dealt with it; otherwise the caller is told the callee rings.
func (e *earlyMedia) progress(sess *sipgo.DialogClientSession, res *sip.Response) bool {
	c := e.c
	c.mu.Lock()
	// A caller that made no offer cannot be given an answer in an
	// unreliable provisional (RFC 3261 §13.2.1): it hears local ringback.
	delayed, ended := c.delayed, c.state == call.StateEnded
	c.mu.Unlock()
	if delayed || ended {
		return false
	}
	e.mu.Lock()
	owner, sent := e.owner, e.sent
	e.mu.Unlock()
	if len(res.Body()) == 0 || (owner != nil && owner != sess) {
		if !sent {
			return false
		}
		// Early media plays (from this fork or another): a 180 becomes a
		// 180 with the same SDP (RFC 3261 §13.3.1.1 lets any provisional
		// carry the answer again), so the caller keeps the early session.
		if res.StatusCode == sip.StatusRinging && owner == sess {
			e.ringAgain()
		}
		return true
	}
	ans, f, err := e.b.usableAnswer(res.Body())
	if err != nil {
		c.log.Warn("early media refused", "status", res.StatusCode, "error", err)
		return false
	}
	c.mu.Lock()
	if c.state == call.StateEnded || c.aLeg == nil || c.bLeg == nil {
		c.mu.Unlock()
		return true
	}
	c.bLeg.SetRemote(remoteOf(ans, f))
	started := c.relay == nil
	if started {
		c.relay = startRelay(c.aLeg, c.bLeg)
	}
	body := c.aLocal.Marshal()
	c.mu.Unlock()

	e.mu.Lock()
	e.owner = sess
	first := !e.sent
	e.sent, e.ringing = true, true
	e.mu.Unlock()
	if started {
		c.log.Info("early media", "status", res.StatusCode)
	}
	if first {
		_ = e.dlg.Respond(sip.StatusSessionInProgress, "Session Progress", body, sip.NewHeader("Content-Type", "application/sdp"))
	} else if res.StatusCode == sip.StatusRinging {
		e.ringAgain()
	}
	c.ringing()
	return true
}

// ringAgain sends the caller one 180 carrying the PBX's SDP again.
func (e *earlyMedia) ringAgain() {
	e.mu.Lock()
	again := !e.ringSDP
	e.ringSDP = true
	e.mu.Unlock()
	if !again {
		return
	}
	e.c.mu.Lock()
	body := e.c.aLocal.Marshal()
	e.c.mu.Unlock()
	_ = e.dlg.Respond(sip.StatusRinging, "Ringing", body, sip.NewHeader("Content-Type", "application/sdp"))
}

// lost reports that fork sess ended without answering: its early media, if
// it had the turn, stops and the next fork to send SDP takes over.
func (e *earlyMedia) lost(sess *sipgo.DialogClientSession) {
	if e == nil || sess == nil {
		return
	}
	e.mu.Lock()
	if e.owner == sess {
		e.owner = nil
	}
	e.mu.Unlock()
}

// startRelay bridges two legs that nothing relayed until now. What the far
// ends sent before is stale: it is discarded, never replayed as a burst
// (Leg.Discard).
func startRelay(a, b *media.Leg) *media.Relay {
	a.Discard()
	b.Discard()
	return media.Bridge(a, b)
}
