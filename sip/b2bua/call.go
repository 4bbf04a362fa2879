package b2bua

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// Call is one live call: the caller's dialog (A-leg), the answering callee's
// dialog (B-leg), their media legs and the relay between them. Each call owns
// its state behind its own lock.
type Call struct {
	id  call.ID
	b2b *B2BUA
	log *slog.Logger

	// live is the head live calls lists read (head), published once the
	// call is tracked.
	live atomic.Pointer[call.LiveHead]
	// callerBye: a BYE from the caller arrived, set before the caller's
	// dialog ends on it (callerHungUp).
	callerBye atomic.Bool

	mu         sync.Mutex
	rec        call.Record
	state      call.State
	a          dialog // the caller (for click-to-call, the first party dialled)
	b          dialog // the callee
	bContact   string
	aLeg       *media.Leg
	bLeg       *media.Leg
	relay      *media.Relay
	aLocal     sdp.Local
	bLocal     sdp.Local
	cancelRing context.CancelFunc
	stopWatch  func() // ends the media timeout's watch (watchMedia)
	fromExt    core.ExtensionID
	toExt      core.ExtensionID
	// answering, while the caller's 2xx is being sent, is closed once the
	// call is known answered or cancelled (see B2BUA.answer).
	answering chan struct{}
	// early relays the far side's early media while the caller waits.
	early *earlyMedia
	// delayed: the caller's INVITE had no offer; the PBX offered in its
	// 2xx and ackAnswer is the answer the caller's ACK carried.
	delayed   bool
	ackAnswer []byte
	// offerInAck: an offer the PBX sent in a 2xx waits for its answer in
	// the ACK (RFC 3264 §4), per side: 0 the caller, 1 the callee.
	offerInAck [2]bool
	// sessions are the session timers of the legs (RFC 4028), per side
	// like offerInAck (sessiontimer.go).
	sessions [2]*legSession
	// infoDigits queues the digits received by INFO for the other party
	// (info.go); nil until the first one.
	infoDigits chan infoDigit
	// engine is the caller's leg when the PBX answered the call itself
	// (engine.go); stopEngine ends its context when the call ends.
	engine     *callerChannel
	stopEngine context.CancelFunc
	// mohClass is the music-on-hold class held parties hear ("" default);
	// moh is the music playing to each side (0 the caller) while held.
	mohClass string
	moh      [2]*mohPlayer
	// noAnswerPlan is the callee's plan for calls it does not answer.
	noAnswerPlan string
	// recorded: finish took the record to write; nothing more goes in it.
	recorded bool
	// callerKey keys the call in B2BUA.byCaller once its caller's INVITE
	// transaction ended (guarded by the B2BUA's lock).
	callerKey string

	// ringMu serialises call.ringing (rang: published) with call.answered,
	// so that the one comes before the other (ringing).
	ringMu sync.Mutex
	rang   bool

	endOnce sync.Once
	ended   chan struct{}
}

func (c *Call) dialogIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	if c.a != nil {
		ids = append(ids, c.a.dialogID())
	}
	if c.b != nil {
		ids = append(ids, c.b.dialogID())
	}
	return ids
}

// side returns the leg dialog an in-dialog request belongs to, and whether
// it is the A side.
func (c *Call) side(req *sip.Request) (dialog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.a != nil && c.a.matches(req) {
		return c.a, true
	}
	if c.b != nil && c.b.matches(req) {
		return c.b, false
	}
	return nil, false
}

// Snapshot is the live view of the call for the API.
func (c *Call) Snapshot() call.Snapshot {
	s, _ := c.snapshot(make([]call.LegSnapshot, 0, 2))
	return s
}

// snapshot is Snapshot with the legs appended to legs, whose spare capacity
// a list of snapshots shares; it returns legs with them.
func (c *Call) snapshot(legs []call.LegSnapshot) (call.Snapshot, []call.LegSnapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := call.Snapshot{
		ID: c.id, SIPCallID: c.rec.SIPCallID, Direction: c.rec.Direction, State: c.state,
		FromNumber: c.rec.FromNumber, FromName: c.rec.FromName, ToNumber: c.rec.ToNumber,
		StartedAt: c.rec.StartedAt, AnsweredAt: c.rec.AnsweredAt,
	}
	n := len(legs)
	if c.aLeg != nil {
		legs = append(legs, call.LegSnapshot{Role: "caller", Number: c.rec.FromNumber, Quality: quality(c.aLeg)})
	}
	if c.bLeg != nil && c.b != nil {
		legs = append(legs, call.LegSnapshot{Role: "callee", Number: c.rec.ToNumber, Contact: c.bContact, Quality: quality(c.bLeg)})
	}
	if len(legs) > n {
		s.Legs = legs[n:len(legs):len(legs)]
	}
	return s, legs
}

// head is what a live calls query looks at. Once the call is tracked it is
// read without the call's lock, which its signalling holds, from the head
// published then and again whenever the callee's number changes
// (setToNumber): a live calls list goes through every call and waits for
// none. The start time, the ID and the caller's number never change.
func (c *Call) head() call.LiveHead {
	if h := c.live.Load(); h != nil {
		return *h
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headLocked()
}

func (c *Call) headLocked() call.LiveHead {
	return call.LiveHead{StartedAt: c.rec.StartedAt.UnixNano(), ID: c.id, FromNumber: c.rec.FromNumber, ToNumber: c.rec.ToNumber}
}

// publishHead makes the call's head what head reads. c.mu is held.
func (c *Call) publishHead() {
	h := c.headLocked()
	c.live.Store(&h)
}

// setToNumber changes the number the call is to. c.mu is held.
func (c *Call) setToNumber(number string) {
	c.rec.ToNumber = number
	c.publishHead()
}

func quality(l *media.Leg) call.LegQuality {
	st := l.Stats()
	q := call.LegQuality{
		PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		Lost: st.Lost, JitterMs: st.JitterMs,
	}
	if r := l.Remote(); r != nil {
		q.Codec = r.Codec.String()
	}
	return q
}

// hangup ends an answered call from one side: BYE to the other side(s),
// release media, write the record. For a call still ringing it cancels the
// forks and lets the INVITE handler finish the record.
func (c *Call) hangup(by call.Party, cause string) {
	c.mu.Lock()
	state := c.state
	cancelRing := c.cancelRing
	engine := c.engine
	c.mu.Unlock()
	if engine != nil && state != call.StateAnswered {
		// The PBX was to answer this call itself and has not yet: the
		// caller's INVITE gets its final response now.
		if state != call.StateEnded {
			_ = engine.Hangup(context.Background(), cause)
		}
		return
	}
	if state != call.StateAnswered {
		if cancelRing != nil {
			c.mu.Lock()
			if c.rec.HangupCause == "" {
				c.rec.HangupBy, c.rec.HangupCause = by, cause
			}
			c.mu.Unlock()
			cancelRing()
		}
		return
	}
	c.finish(by, cause, call.Answered)
}

// finish ends the call once: stop media, BYE the legs the ending party did
// not hang up, and write the call record.
func (c *Call) finish(by call.Party, cause string, disp call.Disposition) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		if c.stopEngine != nil {
			c.stopEngine()
		}
		if c.cancelRing != nil && c.engine != nil {
			c.cancelRing()
		}
		c.state = call.StateEnded
		now := time.Now().UTC()
		c.rec.EndedAt = &now
		if c.rec.HangupCause == "" || disp == call.Answered {
			c.rec.HangupBy, c.rec.HangupCause = by, cause
		}
		c.rec.Disposition = disp
		a, b := c.a, c.b
		relay, aLeg, bLeg, stop := c.relay, c.aLeg, c.bLeg, c.stopWatch
		answering := c.answering
		engine := c.engine
		c.mu.Unlock()

		if stop != nil {
			stop()
		}
		c.stopMOH(true)
		c.stopMOH(false)
		c.stopSessions()
		if relay != nil {
			relay.Stop()
		}
		if engine != nil {
			// The plan notices its leg is gone and records where the
			// caller left it; briefly, since nothing may hold the call open.
			select {
			case <-engine.released:
			case <-time.After(2 * time.Second):
			}
		}
		c.mu.Lock()
		c.recorded = true
		if aLeg != nil {
			c.rec.Caller = quality(aLeg)
		}
		if bLeg != nil && b != nil {
			c.rec.Callee = quality(bLeg)
		}
		rec := c.rec
		c.mu.Unlock()

		{
			// Every leg still up gets a BYE, but the one that hung up.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var wg sync.WaitGroup
			if by != call.ByCaller && a != nil && a.established() {
				wg.Add(1)
				go func() { defer wg.Done(); _ = a.Bye(ctx) }()
			}
			if by != call.ByCallee && b != nil && b.established() {
				wg.Add(1)
				go func() { defer wg.Done(); _ = b.Bye(ctx) }()
			}
			wg.Wait()
			cancel()
		}
		if answering != nil {
			// call.answered, when due, goes before call.ended; the BYE
			// sent above ends a 2xx still waiting for its ACK.
			select {
			case <-answering:
			case <-time.After(40 * time.Second):
			}
		}
		if a != nil {
			_ = a.Close()
		}
		if b != nil {
			_ = b.Close()
		}
		if aLeg != nil {
			_ = aLeg.Close()
		}
		if bLeg != nil {
			_ = bLeg.Close()
		}
		c.writeRecord(&rec)
		c.emitEnd(rec)
		c.b2b.observeEnd(rec)
		c.b2b.forget(c)
		close(c.ended)
		c.log.Info("call ended", "disposition", rec.Disposition, "cause", rec.HangupCause, "by", rec.HangupBy,
			"talk_s", rec.TalkSeconds())
	})
}

// writeRecord queues the call's final record, ahead of its call.ended.
func (c *Call) writeRecord(rec *call.Record) {
	if err := c.b2b.finishRecord(rec); err != nil {
		c.log.Error("write call record", "error", err)
	}
}

// watchMedia hangs up when a party expected to send has sent no RTP for the
// media timeout, whatever the other party sends. It replaces the watch of
// the call's previous legs, if any; finish stops it.
func (c *Call) watchMedia() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	if c.state == call.StateEnded {
		return
	}
	var legs []*media.Leg
	for _, l := range []*media.Leg{c.aLeg, c.bLeg} {
		if l != nil {
			legs = append(legs, l) // (a call the PBX answered has one leg until it is transferred)
		}
	}
	c.stopWatch = media.WatchMedia(c.b2b.cfg.MediaTimeout, func(silent *media.Leg) {
		party := "callee"
		c.mu.Lock()
		if silent == c.aLeg {
			party = "caller"
		}
		c.mu.Unlock()
		c.log.Warn("no media from a party, hanging up", "party", party, "timeout", c.b2b.cfg.MediaTimeout)
		c.hangup(call.BySystem, call.CauseMediaTimeout)
	}, legs...)
}

// callerHungUp reports whether the caller's dialog ended on its BYE, which
// ends the 2xx's wait for the ACK as the ACK would: a caller that hangs up
// at once sends its BYE right behind its ACK, and the BYE can be handled
// first. The call's own mark decides, not the dialog's state alone, which
// an ACK handled after the BYE turns back to confirmed.
func (c *Call) callerHungUp(dlg *sipgo.DialogServerSession) bool {
	return c.callerBye.Load() || dlg.LoadState() == sip.DialogStateEnded
}

// ackReceived takes the SDP answer an ACK carries (RFC 3264 §4) to an
// offer the PBX made in a 2xx: the caller's answer to a delayed offer
// (kept for B2BUA.answer), or either party's to a re-INVITE without SDP.
func (c *Call) ackReceived(req *sip.Request, fromA bool) {
	side := 1
	if fromA {
		side = 0
	}
	c.mu.Lock()
	if !c.offerInAck[side] {
		c.mu.Unlock()
		return
	}
	c.offerInAck[side] = false
	if fromA && c.delayed {
		c.ackAnswer = req.Body()
		c.mu.Unlock()
		return
	}
	leg := c.bLeg
	if fromA {
		leg = c.aLeg
	}
	c.mu.Unlock()
	if len(req.Body()) == 0 || leg == nil {
		return
	}
	m, err := sdp.Parse(req.Body())
	var f sdp.Format
	if err == nil {
		f, err = m.Choose(c.b2b.cfg.Codecs)
	}
	if err == nil {
		err = c.b2b.checkMedia(m, false)
	}
	if err != nil {
		c.log.Warn("answer in an ack refused", "error", err)
		return
	}
	leg.SetRemote(remoteOf(m, f))
}

// takeAckAnswer applies the caller's answer in the ACK to the PBX's
// delayed offer: a codec the PBX offered, an address it may send to.
func (c *Call) takeAckAnswer() error {
	c.mu.Lock()
	body, offered, aLeg := c.ackAnswer, c.aLocal.Codecs, c.aLeg
	c.delayed, c.ackAnswer = false, nil
	c.mu.Unlock()
	if len(body) == 0 {
		return errors.New("the ack carries no answer")
	}
	m, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	f, err := m.Choose(offered)
	if err != nil {
		return err
	}
	if err := c.b2b.checkMedia(m, true); err != nil {
		return err
	}
	aLeg.SetRemote(remoteOf(m, f))
	c.mu.Lock()
	c.aLocal.Codecs = []codec.Codec{f.Codec}
	c.aLocal.DTMF = m.DTMFPayloadType
	c.mu.Unlock()
	return nil
}
