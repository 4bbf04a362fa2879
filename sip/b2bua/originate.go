package b2bua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// Originate places a click-to-call: it rings from, and once from answers it
// dials to and bridges the two. It returns the call id at once; the call's
// progress is published as events.
func (b *B2BUA) Originate(ctx context.Context, o call.Originate) (call.ID, error) {
	from, err := b.dir.ExtensionByNumber(ctx, o.From)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", o.From, err)
	}
	if !from.Enabled {
		return "", fmt.Errorf("extension %s is disabled: %w", from.Number, core.ErrForbidden)
	}
	to, err := b.dir.ExtensionByNumber(ctx, o.To)
	if errors.Is(err, core.ErrNotFound) {
		return "", fmt.Errorf("no extension or outbound route for %s: %w", o.To, core.ErrNoRoute)
	} else if err != nil {
		return "", err
	}
	fromPhones := b.registry.Lookup(from.ID)
	if len(fromPhones) == 0 {
		return "", fmt.Errorf("extension %s has no registered phone: %w", from.Number, core.ErrUnavailable)
	}
	if !b.writesAdmitted() {
		return "", fmt.Errorf("write backlog too deep, try again shortly: %w", core.ErrUnavailable)
	}
	c := &Call{
		id: call.NewID(), b2b: b, ended: make(chan struct{}), state: call.StateRinging,
		fromExt: from.ID, toExt: to.ID,
		rec: call.Record{SIPCallID: "", Direction: call.Internal, FromNumber: from.Number, FromName: from.Name,
			ToNumber: to.Number, StartedAt: time.Now().UTC()},
	}
	c.rec.ID = c.id
	c.log = b.log.With("call_id", c.id, "from", from.Number, "to", to.Number, "originate", true)
	if !b.track(c) {
		return "", fmt.Errorf("shutting down: %w", core.ErrUnavailable)
	}
	if err := b.createRecord(&c.rec); err != nil {
		b.forget(c)
		return "", err
	}
	c.emit(core.EventCallCreated, nil)
	go b.originate(c, from, to, fromPhones, o.AutoAnswer)
	return c.id, nil
}

func (b *B2BUA) originate(c *Call, from, to *core.Extension, fromPhones []registrar.Binding, autoAnswer bool) {
	aLeg, err := b.pool.NewLeg(b.cfg.Advertise, media.WithLogger(c.log.With("leg", "caller")))
	if err != nil {
		c.finish(call.BySystem, call.CauseError, call.Failed)
		return
	}
	bLeg, err := b.pool.NewLeg(b.cfg.Advertise, media.WithLogger(c.log.With("leg", "callee")))
	if err != nil {
		_ = aLeg.Close()
		c.finish(call.BySystem, call.CauseError, call.Failed)
		return
	}
	sessionID := rand.Uint64() >> 1
	aOffer := sdp.Local{Addr: aLeg.Local(), Codecs: b.cfg.Codecs, DTMF: sdp.DefaultDTMFPayloadType, Direction: sdp.SendRecv, SessionID: sessionID, Version: 1}
	ringA, cancelA := context.WithTimeout(context.Background(), time.Duration(from.RingTimeoutSeconds)*time.Second)
	defer cancelA()
	c.mu.Lock()
	c.aLeg, c.bLeg, c.aLocal = aLeg, bLeg, aOffer
	c.cancelRing = cancelA
	c.mu.Unlock()

	var headers []sip.Header
	if autoAnswer {
		// Understood by most desk phones (Polycom, Yealink, Snom, Grandstream).
		headers = append(headers, sip.NewHeader("Call-Info", "<sip:"+b.cfg.Domain+">;answer-after=0"),
			sip.NewHeader("Alert-Info", "<http://localhost>;info=alert-autoanswer"))
	}
	// The first party's phone shows whom it is about to call.
	target := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: to.Number, Name: to.Name}}
	won, outcome := b.fork(ringA, fromPhones, dialSpec{offer: aOffer.Marshal(), from: target, to: from, headers: headers, log: c.log,
		onRinging: c.ringing})
	if won == nil {
		b.failOriginate(c, ringA, outcome)
		return
	}
	c.mu.Lock()
	c.a = uacDialog{won.sess}
	if h := won.sess.InviteRequest.CallID(); h != nil {
		c.rec.SIPCallID = h.Value()
	}
	c.mu.Unlock()
	b.bindDialog(won.sess.ID, c)
	if err := b.accept(won, aLeg); err != nil {
		c.log.Warn("first party's answer unusable", "error", err)
		c.finish(call.BySystem, call.CauseNoCodec, call.Failed)
		return
	}
	c.lighten(true)
	c.log.Info("first party answered, dialling", "to", to.Number)

	toPhones := b.registry.Lookup(to.ID)
	if !to.Enabled || len(toPhones) == 0 {
		cause := call.CauseNotRegistered
		if !to.Enabled {
			cause = call.CauseDisabled
		}
		c.finish(call.BySystem, cause, call.Failed)
		return
	}
	bOffer := sdp.Local{Addr: bLeg.Local(), Codecs: b.cfg.Codecs, DTMF: sdp.DefaultDTMFPayloadType, Direction: sdp.SendRecv, SessionID: sessionID + 1, Version: 1}
	ringB, cancelB := context.WithTimeout(context.Background(), time.Duration(to.RingTimeoutSeconds)*time.Second)
	defer cancelB()
	c.mu.Lock()
	c.bLocal = bOffer
	c.cancelRing = cancelB
	c.mu.Unlock()
	won, outcome = b.fork(ringB, toPhones, dialSpec{offer: bOffer.Marshal(), from: from, to: to, log: c.log})
	if won == nil {
		b.failOriginate(c, ringB, outcome)
		return
	}
	if err := b.connect(c, won); err != nil {
		c.finish(call.BySystem, call.CauseNoCodec, call.Failed)
	}
}

// failOriginate ends a click-to-call that a party did not answer.
func (b *B2BUA) failOriginate(c *Call, ring context.Context, outcome forkOutcome) {
	c.mu.Lock()
	requested, by := c.rec.HangupCause, c.rec.HangupBy
	c.mu.Unlock()
	switch {
	case by == call.ByCaller:
		c.finish(by, call.CauseCallerCancel, call.Cancelled)
	case requested != "":
		c.finish(by, requested, call.Failed)
	case ring.Err() != nil:
		c.finish(call.BySystem, call.CauseNoAnswer, call.NoAnswer)
	default:
		c.finish(call.ByCallee, outcome.cause, outcome.disp)
	}
}
