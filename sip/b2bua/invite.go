package b2bua

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/routing"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// HandleInvite runs a new call from an authenticated caller to the number in
// the Request-URI, wherever core/routing sends it. It returns once the
// caller has a final response (or, for a target the PBX answers itself,
// once the call is over).
func (b *B2BUA) HandleInvite(req *sip.Request, tx sip.ServerTransaction, caller *core.Extension) {
	dialed := req.Recipient.User
	// Emergency calls are taken whatever the write backlog.
	if !b.emergency(dialed) && !b.admit(req, tx) {
		return
	}
	target, err := b.router.Dialled(context.Background(), caller, dialed)
	if err == nil && target.Kind == routing.KindExternalNumber && b.outbound(req, tx, caller, dialed) {
		return
	}
	c := b.newCall(req, call.Record{Direction: call.Internal, FromNumber: caller.Number, FromName: caller.Name, ToNumber: dialed})
	c.fromExt = caller.ID
	if !b.start(c, req, tx) {
		return
	}
	switch {
	case err != nil:
		c.log.Error("route call", "error", err)
		c.reject(req, tx, sip.StatusInternalServerError, "Server Error", call.Failed, call.CauseError)
	case target.Kind == routing.KindExternalNumber:
		c.reject(req, tx, sip.StatusNotFound, "Not Found", call.Failed, call.CauseUnknownNumber)
	case target.Kind == routing.KindFeature:
		b.runFeature(c, req, tx, caller, target)
	default:
		b.runTarget(c, req, tx, target)
	}
}

// Inbound describes a call a trunk delivered to one of the PBX's numbers.
type Inbound struct {
	Trunk      *core.Trunk
	Number     *core.PhoneNumber
	FromNumber string // E.164 where it could be read, or "anonymous"
	FromName   string
}

// HandleInbound runs a call from a trunk to the target its number routes to.
func (b *B2BUA) HandleInbound(req *sip.Request, tx sip.ServerTransaction, in Inbound) {
	if !b.admit(req, tx) {
		return
	}
	c := b.newCall(req, call.Record{Direction: call.Inbound, FromNumber: in.FromNumber, FromName: in.FromName,
		ToNumber: in.Number.Number, TrunkID: string(in.Trunk.ID), NumberID: string(in.Number.ID)})
	c.mohClass = in.Number.MOHClassID
	if !b.start(c, req, tx) {
		return
	}
	target := b.router.Inbound(in.Number)
	if target.Kind == routing.KindExternalNumber {
		b.forward(c, req, tx, in)
		return
	}
	b.runTarget(c, req, tx, target)
}

// runTarget takes a new call, still waiting on its INVITE, to a target.
func (b *B2BUA) runTarget(c *Call, req *sip.Request, tx sip.ServerTransaction, target routing.Target) {
	switch target.Kind {
	case routing.KindExtension:
		callee, err := b.dir.GetExtension(context.Background(), target.ExtensionID)
		if err != nil {
			c.log.Error("route call", "error", err)
			c.reject(req, tx, sip.StatusInternalServerError, "Server Error", call.Failed, call.CauseError)
			return
		}
		b.ring(c, req, tx, callee)
	case routing.KindCallPlan:
		b.runPlans(c, req, tx, target.CallPlanID)
	case routing.KindReject:
		c.reject(req, tx, 603, "Decline", call.Failed, call.CauseRejected)
	default:
		c.reject(req, tx, sip.StatusServiceUnavailable, "No Route", call.Failed, call.CauseNoRoute)
	}
}

// forward sends an inbound call on to the number's external_number target,
// out through the first outbound route whose patterns match that E.164
// number, presenting the original caller (or the number called, when the
// caller is not an E.164 number).
func (b *B2BUA) forward(c *Call, req *sip.Request, tx sip.ServerTransaction, in Inbound) {
	target := in.Number.Route.Number
	route, number, err := b.matchOutbound(context.Background(), target)
	if err != nil || route == nil {
		c.log.Warn("no outbound route for a forwarded number", "number", target)
		c.reject(req, tx, sip.StatusServiceUnavailable, "No Route", call.Failed, call.CauseNoRoute)
		return
	}
	callerID := in.Number.Number
	if strings.HasPrefix(in.FromNumber, "+") {
		callerID = in.FromNumber
	}
	forwarder := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: in.FromNumber, Name: in.FromName, OutboundCallerID: callerID}}
	b.dialOut(c, req, tx, forwarder, route, number, false, in.FromNumber == "anonymous")
}

func (b *B2BUA) newCall(req *sip.Request, rec call.Record) *Call {
	c := &Call{id: call.NewID(), b2b: b, ended: make(chan struct{}), state: call.StateRouting, rec: rec}
	c.rec.ID = c.id
	// The SIP front refuses requests without a Call-ID, but requests on TCP
	// connections the PBX opened itself do not pass through it.
	if h := req.CallID(); h != nil {
		c.rec.SIPCallID = h.Value()
	}
	c.rec.Dialled = req.Recipient.User
	c.rec.StartedAt = time.Now().UTC()
	c.log = b.log.With("call_id", c.id, "from", rec.FromNumber, "to", rec.ToNumber, "direction", rec.Direction)
	return c
}

// start registers a new call and its record; false means it was refused.
func (b *B2BUA) start(c *Call, req *sip.Request, tx sip.ServerTransaction) bool {
	if !b.track(c) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Shutting Down", nil))
		return false
	}
	if err := b.createRecord(&c.rec); err != nil {
		c.log.Error("create call record", "error", err)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Error", nil))
		b.forget(c)
		return false
	}
	c.emit(core.EventCallCreated, nil)
	return true
}

// reject answers the INVITE (before ReadInvite) with a final failure and ends the call.
func (c *Call) reject(req *sip.Request, tx sip.ServerTransaction, code int, reason string, disp call.Disposition, cause string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
	c.finish(call.BySystem, cause, disp)
}

// ring rings callee's phones for a call whose caller is waiting on the INVITE.
func (b *B2BUA) ring(c *Call, req *sip.Request, tx sip.ServerTransaction, callee *core.Extension) {
	c.mu.Lock()
	c.toExt = callee.ID
	c.mu.Unlock()
	if !callee.Enabled {
		c.reject(req, tx, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", call.Failed, call.CauseDisabled)
		return
	}
	bindings := b.registry.Lookup(callee.ID)
	if len(bindings) == 0 {
		if callee.NoAnswerCallPlanID != "" {
			b.runPlans(c, req, tx, callee.NoAnswerCallPlanID)
			return
		}
		c.reject(req, tx, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", call.Failed, call.CauseNotRegistered)
		return
	}
	c.mu.Lock()
	c.noAnswerPlan = callee.NoAnswerCallPlanID
	c.mu.Unlock()
	// The callee's phone shows the caller: an extension, or the trunk caller's number.
	presented := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: c.rec.FromNumber, Name: c.rec.FromName}}
	b.bridgeCaller(c, req, tx, time.Duration(callee.RingTimeoutSeconds)*time.Second,
		func(ctx context.Context, offer []byte, onRinging func()) (*forkWin, forkOutcome) {
			return b.fork(ctx, bindings, dialSpec{offer: offer, from: presented, to: callee, onRinging: onRinging, early: c.early, log: c.log})
		})
}

// dialFunc rings the far side of a call with our offer and returns the
// winning answer, or why there is none.
type dialFunc func(ctx context.Context, offer []byte, onRinging func()) (*forkWin, forkOutcome)

// callerSide is the caller's side of a new call once its INVITE is taken.
type callerSide struct {
	dlg *sipgo.DialogServerSession
	leg *media.Leg
	// codec is the caller's codec; codec.Unknown for a delayed offer.
	codec     codec.Codec
	delayed   bool
	sessionID uint64
}

// takeCaller checks the caller's offer, takes its INVITE into a dialog,
// sends 100 and opens its media leg with the PBX's answer (c.aLocal). An
// INVITE without a body is a delayed offer (RFC 3261 §13.2.1, RFC 3264
// §4): the PBX offers in its 2xx and the caller answers in the ACK. False
// means the caller was refused and the call is over.
func (b *B2BUA) takeCaller(c *Call, req *sip.Request, tx sip.ServerTransaction) (callerSide, bool) {
	side := callerSide{delayed: len(req.Body()) == 0, sessionID: rand.Uint64() >> 1}
	var offer *sdp.Media
	var format sdp.Format
	if !side.delayed {
		var err error
		if offer, err = sdp.Parse(req.Body()); err == nil {
			format, err = offer.Choose(b.callerCodecs(c))
		}
		if err != nil {
			c.reject(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here", call.Failed, call.CauseNoCodec)
			return side, false
		}
		if err := b.checkMedia(offer, true); err != nil {
			c.refuseOffer(req, tx, err)
			return side, false
		}
	}
	ua := b.dialogUA(strings.ToUpper(req.Transport()))
	dlg, err := ua.ReadInvite(req, tx)
	if err != nil {
		c.log.Error("read invite", "error", err)
		c.reject(req, tx, sip.StatusInternalServerError, "Server Error", call.Failed, call.CauseError)
		return side, false
	}
	side.dlg = dlg
	c.mu.Lock()
	c.a = uasDialog{s: dlg, ua: ua, tx: tx}
	c.mu.Unlock()
	b.bindDialog(dlg.ID, c)
	_ = dlg.Respond(sip.StatusTrying, "Trying", nil)
	leg, err := b.pool.NewLeg(b.cfg.Advertise, media.WithLogger(c.log.With("leg", "caller")))
	if err != nil {
		_ = dlg.Respond(sip.StatusServiceUnavailable, "No Media Ports", nil)
		c.finish(call.BySystem, call.CauseError, call.Failed)
		return side, false
	}
	side.leg = leg
	// Our offer to a caller that made none: its codecs follow whoever the
	// call is connected to (see answer).
	local := sdp.Local{Addr: leg.Local(), Codecs: b.cfg.Codecs, DTMF: sdp.DefaultDTMFPayloadType,
		Direction: sdp.SendRecv, SessionID: side.sessionID + 1, Version: 1}
	if !side.delayed {
		leg.SetRemote(remoteOf(offer, format))
		side.codec = format.Codec
		// The answer keeps every m-line of the offer, refusing all but the
		// audio stream used (RFC 3264 §6): a video phone goes on audio-only.
		local = sdp.Local{Addr: leg.Local(), Codecs: []codec.Codec{format.Codec}, DTMF: offer.DTMFPayloadType,
			Direction: offer.Direction.Reverse(), SessionID: side.sessionID + 1, Version: 1, Streams: offer.Streams, Index: offer.Index}
	}
	c.mu.Lock()
	c.aLeg = leg
	c.aLocal = local
	c.delayed, c.offerInAck[0] = side.delayed, side.delayed
	c.mu.Unlock()
	return side, true
}

// bridgeCaller takes the caller's INVITE, anchors media, dials the far side
// and answers the caller once it answers (or relays why it did not).
func (b *B2BUA) bridgeCaller(c *Call, req *sip.Request, tx sip.ServerTransaction, ringFor time.Duration, dial dialFunc) {
	side, ok := b.takeCaller(c, req, tx)
	if !ok {
		return
	}
	dlg := side.dlg
	fail := func(code int, reason string, disp call.Disposition, cause string, by call.Party) {
		if dlg.Context().Err() == nil {
			_ = dlg.Respond(code, reason, nil)
		}
		c.finish(by, cause, disp)
	}
	bLeg, err := b.pool.NewLeg(b.cfg.Advertise, media.WithLogger(c.log.With("leg", "callee")))
	if err != nil {
		fail(sip.StatusServiceUnavailable, "No Media Ports", call.Failed, call.CauseError, call.BySystem)
		return
	}
	bOffer := sdp.Local{Addr: bLeg.Local(), Codecs: b.cfg.Codecs,
		DTMF: sdp.DefaultDTMFPayloadType, Direction: sdp.SendRecv, SessionID: side.sessionID, Version: 1}
	if !side.delayed {
		bOffer.Codecs = preferring(side.codec, b.cfg.Codecs)
	}
	ringCtx, cancelRing := context.WithTimeout(dlg.Context(), ringFor)
	defer cancelRing()
	c.mu.Lock()
	c.bLeg = bLeg
	c.bLocal = bOffer
	c.cancelRing = cancelRing
	c.state = call.StateRinging
	c.mu.Unlock()

	// Early media (RFC 3960) from the far side is relayed while it rings.
	early := newEarlyMedia(b, c, dlg)
	c.mu.Lock()
	c.early = early
	c.mu.Unlock()
	onRinging := early.ring
	won, outcome := dial(ringCtx, bOffer.Marshal(), onRinging)
	if won == nil {
		c.mu.Lock()
		requested := c.rec.HangupCause // set by an API hangup or a shutdown while ringing
		plan := c.noAnswerPlan
		c.mu.Unlock()
		if plan != "" && requested == "" && dlg.Context().Err() == nil && divertible(outcome, ringCtx.Err() != nil) {
			b.divertToPlan(c, dlg, plan)
			return
		}
		switch {
		case dlg.Context().Err() != nil:
			// The caller cancelled; the transaction already answered 487.
			c.finish(call.ByCaller, call.CauseCallerCancel, call.Cancelled)
		case requested == call.CauseAPIHangup || requested == call.CauseShutdown:
			fail(sip.StatusRequestTerminated, "Request Terminated", call.Failed, requested, call.BySystem)
		case ringCtx.Err() != nil:
			fail(sip.StatusTemporarilyUnavailable, "No Answer", call.NoAnswer, call.CauseNoAnswer, call.BySystem)
		case outcome.refused:
			fail(outcome.code, outcome.reason, outcome.disp, outcome.cause, call.BySystem)
		default:
			fail(outcome.code, outcome.reason, outcome.disp, outcome.cause, call.ByCallee)
		}
		return
	}
	b.answer(c, dlg, won)
}

// divertible reports whether a callee's failure to answer sends the call
// to the callee's no-answer plan: no answer, busy, declined or its phones
// failing, never media the PBX refused.
func divertible(o forkOutcome, timedOut bool) bool {
	if timedOut {
		return true
	}
	switch o.cause {
	case call.CauseNoAnswer, call.CauseBusy, call.CauseDeclined, call.CauseCalleeError:
		return !o.refused
	}
	return false
}

// preferring orders codecs with first at the head, so the callee can pick the
// caller's codec and no transcoding is needed.
func preferring(first codec.Codec, all []codec.Codec) []codec.Codec {
	out := []codec.Codec{first}
	for _, c := range all {
		if c != first {
			out = append(out, c)
		}
	}
	return out
}

type forkWin struct {
	sess    *sipgo.DialogClientSession
	binding registrar.Binding
}

type forkOutcome struct {
	code   int
	reason string
	disp   call.Disposition
	cause  string
	last   int // the last final status a fork got; 0 for no answer at all (timeout, transport)
	// refused is set when a fork answered with SDP the PBX cannot use (a
	// media address or codec it refuses); that fork was hung up.
	refused bool
}

// dialSpec is what every fork of one dial sends.
type dialSpec struct {
	offer     []byte
	from      *core.Extension // presented as the caller
	to        *core.Extension // the party rung
	headers   []sip.Header
	onRinging func()
	fromHost  string // default: the SIP domain
	toHost    string // default: the SIP domain
	authUser  string // answer the far end's digest challenge with these (trunks)
	authPass  string
	trunk     bool         // the far end is a trunk: challenges follow TrunkAuth
	realm     string       // the trunk's realm; "" answers any
	log       *slog.Logger // the call's; default the B2BUA's

	// early relays a fork's early media to the caller; nil for none.
	early *earlyMedia
}

// fork rings every contact at once. The first 2xx wins and the other forks are
// cancelled; a late 2xx from a loser is acknowledged and hung up at once.
func (b *B2BUA) fork(ctx context.Context, bindings []registrar.Binding, spec dialSpec) (*forkWin, forkOutcome) {
	type result struct {
		i    int
		sess *sipgo.DialogClientSession
		err  error
	}
	results := make(chan result, len(bindings))
	cancels := make([]context.CancelFunc, len(bindings))
	for i, bd := range bindings {
		fctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		go func() {
			sess, err := b.dial(fctx, bd, spec)
			results <- result{i, sess, err}
		}()
	}
	outcome := forkOutcome{code: sip.StatusTemporarilyUnavailable, reason: "Temporarily Unavailable", disp: call.NoAnswer, cause: call.CauseNoAnswer}
	var won *forkWin
	pending := len(bindings)
	drain := func() {
		// Losers still finishing their CANCEL: clean up whatever they return.
		go func(n int) {
			for range n {
				release((<-results).sess)
			}
			for _, cancel := range cancels {
				cancel()
			}
		}(pending)
	}
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				if _, _, err := b.usableAnswer(r.sess.InviteResponse.Body()); err != nil {
					// Answered with media the PBX refuses: hang this fork up
					// and wait for the others.
					log := b.log
					if spec.log != nil {
						log = spec.log
					}
					log.Warn("answer refused, hanging up that leg", "contact", bindings[r.i].Contact, "error", err, "security", true)
					go hangUpRefused(r.sess)
					if outcome.disp == call.NoAnswer {
						outcome = forkOutcome{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here", disp: call.Failed,
							cause: call.CauseNoCodec}
					}
					outcome.refused = true
					continue
				}
				won = &forkWin{sess: r.sess, binding: bindings[r.i]}
				for j, cancel := range cancels {
					if j != r.i {
						cancel()
					}
				}
				drain()
				return won, outcome
			}
			// A fork whose CANCEL crossed its 2xx failed with the 2xx in
			// hand: that dialog is acknowledged and hung up.
			spec.early.lost(r.sess)
			release(r.sess)
			var de *sipgo.ErrDialogResponse
			if errors.As(r.err, &de) {
				outcome = worse(outcome, de.Res.StatusCode)
				outcome.last = de.Res.StatusCode
			}
		case <-ctx.Done():
			for _, cancel := range cancels {
				cancel()
			}
			drain()
			return nil, outcome
		}
	}
	for _, cancel := range cancels {
		cancel()
	}
	return nil, outcome
}

// release ends a fork that lost or was cancelled. When its CANCEL crossed
// the callee's 2xx (RFC 3261 §9.1: the 2xx is final, the CANCEL has no
// effect), the dialog exists on the callee's side: it is acknowledged and
// hung up at once (RFC 3261 §13.2.2.4, §15). Otherwise it is only closed.
func release(sess *sipgo.DialogClientSession) {
	if sess == nil {
		return
	}
	if res := sess.InviteResponse; res != nil && res.IsSuccess() {
		hangUpRefused(sess)
		return
	}
	_ = sess.Close()
}

// hangUpRefused acknowledges a 2xx whose answer the PBX refuses and ends
// that dialog at once (RFC 3261 §13.2.2.4: a 2xx is always acknowledged).
func hangUpRefused(sess *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sess.Ack(ctx)
	_ = sess.Bye(ctx)
	_ = sess.Close()
}

// worse keeps the most telling failure across forks, in the spirit of
// RFC 3261 §16.7 step 6 (choosing the best response): busy beats declined
// beats an unknown number beats media the callee refused beats a callee's
// server error beats no answer at all.
//
// A callee's 5xx is its own failure, not the PBX's: the caller gets 500
// (a 503 is never passed on, §16.7 step 6 again, as the caller would take
// the PBX itself for unavailable and retry elsewhere, §21.5.4) and the
// record says callee_error, never no_answer.
func worse(cur forkOutcome, code int) forkOutcome {
	var next forkOutcome
	switch {
	case code == sip.StatusBusyHere || code == 600:
		next = forkOutcome{code: sip.StatusBusyHere, reason: "Busy Here", disp: call.Busy, cause: call.CauseBusy}
	case code == 603:
		next = forkOutcome{code: 603, reason: "Decline", disp: call.Busy, cause: call.CauseDeclined}
	case code == sip.StatusNotFound || code == sip.StatusAddressIncomplete:
		next = forkOutcome{code: code, reason: "Not Found", disp: call.Failed, cause: call.CauseUnknownNumber}
	case code == sip.StatusNotAcceptableHere || code == 606:
		next = forkOutcome{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here", disp: call.Failed, cause: call.CauseNoCodec}
	case code >= 500 && code <= 599:
		next = forkOutcome{code: sip.StatusInternalServerError, reason: "Server Internal Error", disp: call.Failed, cause: call.CauseCalleeError}
	default:
		return cur
	}
	if failureRank[next.cause] <= failureRank[cur.cause] {
		return cur
	}
	return next
}

// failureRank orders the causes worse picks from; no answer ranks 0.
var failureRank = map[string]int{
	call.CauseCalleeError: 1, call.CauseNoCodec: 2, call.CauseUnknownNumber: 3, call.CauseDeclined: 4, call.CauseBusy: 5,
}

// dial sends one fork's INVITE to a registered contact, at the address the
// contact registered from, and waits for its answer.
func (b *B2BUA) dial(ctx context.Context, bd registrar.Binding, spec dialSpec) (*sipgo.DialogClientSession, error) {
	caller, callee := spec.from, spec.to
	var uri sip.Uri
	if err := sip.ParseUri(bd.Contact, &uri); err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(bd.Transport)
	req.SetDestination(bd.Source)
	fromHost, toHost := b.cfg.Domain, b.cfg.Domain
	if spec.fromHost != "" {
		fromHost = spec.fromHost
	}
	if spec.toHost != "" {
		toHost = spec.toHost
	}
	from := &sip.FromHeader{DisplayName: headerSafe(caller.Name), Address: sip.Uri{Scheme: "sip", User: caller.Number, Host: fromHost}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: callee.Number, Host: toHost}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	for _, h := range b.timerHeaders() {
		req.AppendHeader(h)
	}
	for _, h := range spec.headers {
		req.AppendHeader(h)
	}
	req.SetBody(spec.offer)
	sess, err := b.dialogUA(bd.Transport).WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	ta := &TrunkAuth{Realm: spec.realm, HasPassword: spec.authPass != ""}
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: spec.authUser, Password: spec.authPass, OnResponse: func(res *sip.Response) error {
		if spec.trunk {
			if err := ta.Check(res); err != nil {
				return err
			}
		}
		if res.StatusCode > 100 && res.StatusCode < 200 && spec.early != nil && spec.early.progress(sess, res) {
			return nil
		}
		if (res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress) && spec.onRinging != nil {
			spec.onRinging()
		}
		return nil
	}})
	if err != nil {
		return sess, err
	}
	return sess, nil
}

// accept reads the SDP answer of a winning fork, ACKs it and points the media
// leg at the far end.
func (b *B2BUA) accept(won *forkWin, leg *media.Leg) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ackErr := won.sess.Ack(ctx)
	cancel()
	ans, f, err := b.usableAnswer(won.sess.InviteResponse.Body())
	if err != nil {
		return err
	}
	if ackErr != nil {
		return ackErr
	}
	leg.SetRemote(remoteOf(ans, f))
	return nil
}

// connect makes the winning fork the call's B side, bridges media and
// announces the answer.
func (b *B2BUA) connect(c *Call, won *forkWin) error {
	if err := b.bridge(c, won); err != nil {
		return err
	}
	b.announce(c, won)
	return nil
}

// bridge makes the winning fork the call's B side and bridges media.
func (b *B2BUA) bridge(c *Call, won *forkWin) error {
	c.mu.Lock()
	if c.state == call.StateEnded {
		// The caller went away as the callee answered.
		c.mu.Unlock()
		go hangUpRefused(won.sess)
		return errCallEnded
	}
	c.b = uacDialog{won.sess}
	c.bContact = won.binding.Contact
	bLeg := c.bLeg
	c.mu.Unlock()
	b.bindDialog(won.sess.ID, c)
	if err := b.accept(won, bLeg); err != nil {
		c.log.Warn("callee answer unusable", "error", err)
		return err
	}
	c.mu.Lock()
	if c.state == call.StateEnded {
		// The caller went away while the callee's answer was acknowledged:
		// finish did not see this dialog, so it is hung up here.
		c.mu.Unlock()
		go hangUpRefused(won.sess)
		return errCallEnded
	}
	if c.rec.AnsweredAt == nil {
		// (A call the PBX answered itself was answered then.)
		now := time.Now().UTC()
		c.rec.AnsweredAt = &now
	}
	c.state = call.StateAnswered
	if c.relay == nil {
		// The relay may already carry this or another fork's early media;
		// it carries on with the answering fork (accept pointed the leg at it).
		c.relay = startRelay(c.aLeg, bLeg)
	}
	c.mu.Unlock()
	c.watchMedia()
	c.armCallee(won.sess.InviteResponse)
	c.lighten(false)
	return nil
}

// errCallEnded: the call ended while a callee was being connected.
var errCallEnded = errors.New("b2bua: the call ended")

// announce reports an answered call: log, metrics and call.answered.
func (b *B2BUA) announce(c *Call, won *forkWin) {
	c.mu.Lock()
	dir, setup := c.rec.Direction, time.Duration(0)
	if c.rec.AnsweredAt != nil {
		setup = c.rec.AnsweredAt.Sub(c.rec.StartedAt)
	}
	c.mu.Unlock()
	b.observeAnswer(dir, setup)
	c.log.Info("call answered", "contact", won.binding.Contact)
	c.ringing()
	c.emit(core.EventCallAnswered, nil)
}

// cancelledByCaller reports whether the caller's CANCEL ended its INVITE
// transaction (sipgo ends the dialog's context with that cause).
func cancelledByCaller(dlg *sipgo.DialogServerSession, err error) bool {
	return errors.Is(err, sip.ErrTransactionCanceled) || errors.Is(context.Cause(dlg.Context()), sip.ErrTransactionCanceled)
}

// answer connects the winning fork and answers the caller with our SDP.
//
// The caller's CANCEL and the callee's 2xx may cross (RFC 3261 §9.1, §9.2):
// once the caller's INVITE transaction is cancelled it has its 487 and the
// PBX's 2xx can no longer reach it, so the callee's dialog is acknowledged
// and hung up and the call ends cancelled, never answered. call.answered is
// published only once the caller's 2xx went out, and call.ended waits for
// that decision (Call.answering), so the events stay in order.
func (b *B2BUA) answer(c *Call, dlg *sipgo.DialogServerSession, won *forkWin) {
	if dlg.Context().Err() != nil {
		go hangUpRefused(won.sess)
		c.finish(call.ByCaller, call.CauseCallerCancel, call.Cancelled)
		return
	}
	answering := make(chan struct{})
	settle := sync.OnceFunc(func() { close(answering) })
	defer settle()
	c.mu.Lock()
	c.answering = answering
	c.mu.Unlock()
	if err := b.bridge(c, won); err != nil {
		settle()
		if dlg.Context().Err() == nil {
			_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		}
		c.finish(call.BySystem, call.CauseNoCodec, call.Failed)
		return
	}
	c.mu.Lock()
	delayed := c.delayed
	if r := c.bLeg.Remote(); delayed && r != nil {
		// Our offer to a caller that made none puts the callee's codec
		// first, so that nothing needs transcoding.
		c.aLocal.Codecs = preferring(r.Codec, b.cfg.Codecs)
	}
	answer := c.aLocal.Marshal()
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, answer)
	for _, h := range okHeaders() {
		res.AppendHeader(h)
	}
	c.armCaller(dlg.InviteRequest, res)
	err := dlg.WriteResponse(res)
	if err != nil && cancelledByCaller(dlg, err) {
		// The CANCEL was handled just before the 2xx: the caller never
		// saw it.
		c.mu.Lock()
		c.rec.AnsweredAt = nil
		c.mu.Unlock()
		settle()
		c.finish(call.ByCaller, call.CauseCallerCancel, call.Cancelled)
		return
	}
	if err == nil && delayed {
		if err := c.takeAckAnswer(); err != nil {
			// RFC 3261 §13.3.1.4: a UAS that cannot use the answer in the
			// ACK ends the session with a BYE.
			c.log.Warn("caller's answer in the ack unusable", "error", err)
			c.mu.Lock()
			c.rec.AnsweredAt = nil
			c.mu.Unlock()
			settle()
			c.finish(call.BySystem, call.CauseNoCodec, call.Failed)
			return
		}
	}
	b.announce(c, won)
	settle()
	if err == nil {
		c.lighten(true)
	}
	if err != nil && !c.callerHungUp(dlg) {
		// (A BYE that overtook the ACK ends the call itself.)
		c.log.Warn("caller did not acknowledge the answer", "error", err)
		c.hangup(call.BySystem, call.CauseNoAck)
	}
}

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

// okHeaders go on every 2xx to an INVITE (RFC 3261 §13.3.1.4): the methods
// the PBX takes within its dialogs (§20.5) and the extensions it supports
// (§20.37): session timers (RFC 4028 §9).
func okHeaders() []sip.Header {
	return []sip.Header{sip.NewHeader("Allow", allowed), sip.NewHeader("Supported", "timer")}
}

// headerSafe strips control characters, quotes and backslashes, which would
// break out of a quoted header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
