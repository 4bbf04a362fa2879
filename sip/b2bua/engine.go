package b2bua

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/core/routing"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// PromptLibrary gives the audio of prompts and music-on-hold classes.
type PromptLibrary interface {
	// Samples is a prompt as 8 kHz mono 16-bit samples, in language when
	// it has a recording in it.
	Samples(ctx context.Context, p call.Prompt, language string) ([]int16, error)
	// MOH is a music-on-hold class's prompts ("" for the default class)
	// and whether they are shuffled.
	MOH(ctx context.Context, classID string) ([]call.Prompt, bool, error)
}

// ScheduleToggler flips a schedule's night mode for the feature code.
type ScheduleToggler interface {
	// ToggleSchedule flips the schedule with override code for extension
	// ext and says whether it is now closed by the override.
	ToggleSchedule(ctx context.Context, code string, ext core.ExtensionID) (closed bool, err error)
}

// Engine is what calls the PBX answers itself need: call plans and what
// they read, prompts and music on hold.
type Engine struct {
	Plans interface {
		GetCallPlan(ctx context.Context, id plan.ID) (*plan.Plan, error)
	}
	Prompts    PromptLibrary
	Schedules  plan.Schedules
	Directory  plan.Directory
	Extensions plan.Extensions
	Toggle     ScheduleToggler
}

// SetEngine gives the B2BUA what runs calls it answers itself. Call it
// before calls flow.
func (b *B2BUA) SetEngine(e Engine) { b.engine = e }

// maxPlanHops bounds how many plans one call goes through (plans that
// transfer to plans).
const maxPlanHops = 10

// transferRingFor is how long a transfer out of a plan rings an extension
// that sets no ring timeout of its own.
const transferRingFor = 30 * time.Second

// openChannel takes the caller's INVITE for the PBX to answer (takeCaller)
// and makes its leg a channel. False means the caller was refused and the
// call is over.
func (b *B2BUA) openChannel(c *Call, req *sip.Request, tx sip.ServerTransaction) (*callerChannel, bool) {
	if b.engine.Plans == nil || b.engine.Prompts == nil {
		c.reject(req, tx, sip.StatusServiceUnavailable, "No Route", call.Failed, call.CauseNoRoute)
		return nil, false
	}
	side, ok := b.takeCaller(c, req, tx)
	if !ok {
		return nil, false
	}
	return b.channelFor(c, side.dlg, side.leg), true
}

// channelFor makes the caller's leg, not yet answered, a channel the
// engine drives.
func (b *B2BUA) channelFor(c *Call, dlg *sipgo.DialogServerSession, leg *media.Leg) *callerChannel {
	ctx, cancel := context.WithCancel(context.Background())
	ch := newCallerChannel(ctx, c, dlg, leg)
	c.mu.Lock()
	c.stopEngine = cancel
	c.engine = ch
	c.mu.Unlock()
	// The caller's CANCEL before the PBX answers ends the call.
	context.AfterFunc(dlg.Context(), func() {
		if !ch.answered.Load() && cancelledByCaller(dlg, nil) {
			c.finish(call.ByCaller, call.CauseCallerCancel, call.Cancelled)
		}
	})
	return ch
}

// divertToPlan sends a call whose callee did not answer to the callee's
// no-answer plan: the caller's leg, still unanswered, is answered by the
// plan.
func (b *B2BUA) divertToPlan(c *Call, dlg *sipgo.DialogServerSession, planID string) {
	c.mu.Lock()
	aLeg, bLeg, relay := c.aLeg, c.bLeg, c.relay
	c.bLeg, c.b, c.relay, c.early, c.cancelRing = nil, nil, nil, nil, nil
	c.state = call.StateRouting
	c.mu.Unlock()
	if relay != nil {
		relay.Stop() // (early media from a phone that rang)
	}
	if bLeg != nil {
		_ = bLeg.Close()
	}
	c.log.Info("callee did not answer, the call goes to its plan", "plan", planID)
	ch := b.channelFor(c, dlg, aLeg)
	defer ch.release()
	b.runPlanLoop(ch, planID)
}

// runPlans answers a call and runs it through call plans, starting at
// planID, until one hangs up or transfers it elsewhere.
func (b *B2BUA) runPlans(c *Call, req *sip.Request, tx sip.ServerTransaction, planID string) {
	ch, ok := b.openChannel(c, req, tx)
	if !ok {
		return
	}
	defer ch.release()
	b.runPlanLoop(ch, planID)
}

// runPlanLoop runs the caller's leg through plans from planID.
func (b *B2BUA) runPlanLoop(ch *callerChannel, planID string) {
	c := ch.c
	ctx := ch.Context()
	c.mu.Lock()
	callerName := c.rec.FromName
	c.mu.Unlock()
	for range maxPlanHops {
		p, err := b.engine.Plans.GetCallPlan(ctx, plan.ID(planID))
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("load call plan", "plan", planID, "error", err)
				_ = ch.Hangup(ctx, call.CauseError)
			}
			return
		}
		res, err := plan.Run(ctx, ch, p, plan.Env{
			Schedules: b.engine.Schedules, Directory: b.engine.Directory, Extensions: b.engine.Extensions,
			CallerName: callerName, Observer: func(s plan.Step) { c.planStep(s) },
		})
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("run call plan", "plan", planID, "error", err)
				_ = ch.Hangup(ctx, call.CauseError)
			}
			return
		}
		if res.End == plan.EndCallerHungUp || ctx.Err() != nil {
			return
		}
		callerName = res.CallerName
		if res.Target == nil {
			_ = ch.Hangup(ctx, call.CausePlanHangup) // (the plan hung up already, with its cause)
			return
		}
		switch t := *res.Target; t.Kind {
		case routing.KindCallPlan:
			planID = t.CallPlanID
			continue
		case routing.KindExtension:
			b.transferToExtension(ch, t.ExtensionID, callerName)
		case routing.KindExternalNumber:
			b.transferOut(ch, t.Number, callerName)
		default:
			_ = ch.Hangup(ctx, call.CauseRejected)
		}
		return
	}
	c.log.Warn("call went through too many call plans", "limit", maxPlanHops)
	_ = ch.Hangup(ctx, call.CausePlanLoop)
}

// planStep records one node of a plan in the call's path and tells
// integrators with call.plan_node.
func (c *Call) planStep(s plan.Step) {
	step := call.PlanStep{PlanID: string(s.PlanID), Node: s.Node, Kind: string(s.Kind), Digits: s.Digits, Result: s.Branch, At: s.At.UTC()}
	c.mu.Lock()
	if c.recorded {
		// The record is written and call.ended sent: nothing follows them.
		c.mu.Unlock()
		return
	}
	if len(c.rec.PlanPath) < plan.MaxSteps {
		c.rec.PlanPath = append(c.rec.PlanPath, step)
	}
	c.mu.Unlock()
	c.emit(core.EventCallPlanNode, func(d *call.EventData) { d.Plan = &step })
}

// presentedAs is the caller as shown to whoever answers a transfer.
func (c *Call) presentedAs(name string) *core.Extension {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: c.rec.FromNumber, Name: name}}
}

// ringback is the tone a caller the PBX answered hears while a transfer
// rings (440+480 Hz, 2 s on, 4 s off, as in North America).
var ringback = func() []int16 {
	pcm := make([]int16, 6*8000)
	for i := range 2 * 8000 {
		t := float64(i) / 8000
		pcm[i] = int16(4000 * (sin2pi(440*t) + sin2pi(480*t)))
	}
	return pcm
}()

// transferToExtension rings an extension for a call the PBX answered and
// bridges the caller to whoever answers. When nobody does, the caller
// hears that the person is not available and the call ends.
func (b *B2BUA) transferToExtension(ch *callerChannel, id core.ExtensionID, callerName string) {
	c := ch.c
	ctx := ch.Context()
	callee, err := b.dir.GetExtension(ctx, id)
	if err != nil {
		c.log.Error("transfer to an extension", "extension", id, "error", err)
		_ = ch.Hangup(ctx, call.CauseError)
		return
	}
	c.mu.Lock()
	c.toExt = callee.ID
	c.setToNumber(callee.Number)
	c.mu.Unlock()
	bindings := b.registry.Lookup(callee.ID)
	if !callee.Enabled || len(bindings) == 0 {
		cause := call.CauseNotRegistered
		if !callee.Enabled {
			cause = call.CauseDisabled
		}
		b.notAvailable(ch, cause)
		return
	}
	ringFor := time.Duration(callee.RingTimeoutSeconds) * time.Second
	if ringFor <= 0 {
		ringFor = transferRingFor
	}
	b.transfer(ch, ringFor, func(ctx context.Context, offer []byte) (*forkWin, forkOutcome) {
		return b.fork(ctx, bindings, dialSpec{offer: offer, from: c.presentedAs(callerName), to: callee, log: c.log})
	})
}

// transferOut sends a call the PBX answered out through the outbound
// routes to an external number.
func (b *B2BUA) transferOut(ch *callerChannel, number, callerName string) {
	c := ch.c
	ctx := ch.Context()
	route, out, err := b.matchOutbound(ctx, number)
	if err != nil || route == nil {
		c.log.Warn("no outbound route for a plan's transfer", "number", number)
		_ = ch.Hangup(ctx, call.CauseNoRoute)
		return
	}
	c.mu.Lock()
	c.setToNumber(out)
	callerID := c.rec.FromNumber
	if !strings.HasPrefix(callerID, "+") {
		callerID = ""
	}
	c.mu.Unlock()
	as := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: c.rec.FromNumber, Name: callerName, OutboundCallerID: callerID}}
	dial := b.trunkDialer(c, as, route, out, false, false)
	b.transfer(ch, outboundRingFor, func(ctx context.Context, offer []byte) (*forkWin, forkOutcome) {
		return dial(ctx, offer, nil)
	})
}

// transfer dials the far side of a call the PBX answered, with ringback to
// the caller meanwhile, and bridges the two when it answers.
func (b *B2BUA) transfer(ch *callerChannel, ringFor time.Duration, dial func(ctx context.Context, offer []byte) (*forkWin, forkOutcome)) {
	c := ch.c
	ctx := ch.Context()
	// The caller hears ringback, so it is answered first (a plan that
	// transfers at once has not answered yet).
	if err := ch.Answer(ctx); err != nil {
		return
	}
	bLeg, err := b.pool.NewLeg(b.cfg.Advertise, media.WithLogger(c.log.With("leg", "callee")))
	if err != nil {
		_ = ch.Hangup(ctx, call.CauseError)
		return
	}
	c.mu.Lock()
	if c.state == call.StateEnded {
		c.mu.Unlock()
		_ = bLeg.Close()
		return
	}
	codecs := b.cfg.Codecs
	if r := c.aLeg.Remote(); r != nil {
		codecs = preferring(r.Codec, b.cfg.Codecs)
	}
	c.bLocal = sdp.Local{Addr: bLeg.Local(), Codecs: codecs, DTMF: sdp.DefaultDTMFPayloadType, Direction: sdp.SendRecv,
		SessionID: rand.Uint64() >> 1, Version: 1}
	c.bLeg = bLeg
	offer := c.bLocal.Marshal()
	ringCtx, cancelRing := context.WithTimeout(ctx, ringFor)
	c.cancelRing = cancelRing
	c.mu.Unlock()
	defer cancelRing()

	tone, stopTone := context.WithCancel(ctx)
	toneDone := make(chan struct{})
	go func() {
		defer close(toneDone)
		_ = ch.leg.Play(tone, ringback, true)
	}()
	won, outcome := dial(ringCtx, offer)
	stopTone()
	<-toneDone // (the relay is not muted by a ringback still stopping)
	if won == nil {
		if ctx.Err() != nil {
			return // the caller hung up
		}
		c.mu.Lock()
		requested := c.rec.HangupCause
		c.mu.Unlock()
		if requested == call.CauseAPIHangup || requested == call.CauseShutdown {
			_ = ch.Hangup(ctx, requested)
			return
		}
		cause := outcome.cause
		if ringCtx.Err() != nil {
			cause = call.CauseNoAnswer
		}
		b.notAvailable(ch, cause)
		return
	}
	if ctx.Err() != nil {
		go hangUpRefused(won.sess)
		return
	}
	ch.unlisten()
	if err := b.bridge(c, won); err != nil {
		_ = ch.Hangup(ctx, call.CauseNoCodec)
		return
	}
	c.mu.Lock()
	to := c.rec.ToNumber
	c.mu.Unlock()
	c.log.Info("call transferred", "to", to, "contact", won.binding.Contact)
	c.emit(core.EventCallTransferred, func(d *call.EventData) { d.TransferredTo = to })
}

// notAvailable tells the caller the person called is not available and
// ends the call with cause.
func (b *B2BUA) notAvailable(ch *callerChannel, cause string) {
	ctx := ch.Context()
	if err := ch.Play(ctx, []call.Prompt{"not-available", "goodbye"}, call.PlayOptions{}); err != nil && !errors.Is(err, call.ErrHungUp) {
		ch.c.log.Warn("play not-available", "error", err)
	}
	if ctx.Err() == nil {
		_ = ch.Hangup(ctx, cause)
	}
}

func sin2pi(x float64) float64 { return math.Sin(2 * math.Pi * x) }

// runFeature carries out a feature code an extension dialled: the PBX
// answers, acts, says what it did and hangs up.
func (b *B2BUA) runFeature(c *Call, req *sip.Request, tx sip.ServerTransaction, caller *core.Extension, t routing.Target) {
	if t.Feature != routing.FeatureScheduleToggle || b.engine.Toggle == nil {
		c.reject(req, tx, sip.StatusNotFound, "Not Found", call.Failed, call.CauseUnknownNumber)
		return
	}
	closed, err := b.engine.Toggle.ToggleSchedule(context.Background(), t.Arg, caller.ID)
	switch {
	case errors.Is(err, core.ErrNotFound):
		c.reject(req, tx, sip.StatusNotFound, "Not Found", call.Failed, call.CauseUnknownNumber)
		return
	case errors.Is(err, core.ErrForbidden):
		c.log.Warn("schedule override refused", "code", t.Arg, "security", true)
		c.reject(req, tx, sip.StatusForbidden, "Not Permitted", call.Failed, "not_permitted_schedule_override")
		return
	case err != nil:
		c.log.Error("schedule override", "error", err)
		c.reject(req, tx, sip.StatusInternalServerError, "Server Error", call.Failed, call.CauseError)
		return
	}
	c.log.Info("schedule override flipped by phone", "code", t.Arg, "closed", closed)
	ch, ok := b.openChannel(c, req, tx)
	if !ok {
		return
	}
	defer ch.release()
	ctx := ch.Context()
	said := call.Prompt("mode-day")
	if closed {
		said = "mode-night"
	}
	if err := ch.Play(ctx, []call.Prompt{said}, call.PlayOptions{}); err != nil && !errors.Is(err, call.ErrHungUp) {
		c.log.Warn("play feature confirmation", "error", err)
	}
	if ctx.Err() == nil {
		_ = ch.Hangup(ctx, call.CauseNormal)
	}
}
