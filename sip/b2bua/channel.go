package b2bua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
)

// callerChannel is the caller's leg of a call the PBX answers itself: the
// engine plays to it, hears its digits and records it, then bridges it to
// whoever the call goes to. It implements call.Channel.
type callerChannel struct {
	c *Call
	// dlg is the caller's dialog while its INVITE is unanswered; once the
	// caller acknowledges the answer the call keeps a lean dialog of its
	// own (Call.lighten) and dlg is nil.
	dlg atomic.Pointer[sipgo.DialogServerSession]
	leg *media.Leg

	// ctx ends when the call ends (Call.finish cancels it first).
	ctx context.Context

	answered atomic.Bool

	mu      sync.Mutex
	pending []byte        // digits pressed and not yet collected
	notify  chan struct{} // a digit arrived (capacity 1)
	sink    call.Sink     // what Record writes to; nil when not recording
	// stopListen ends the leg's reader (before the leg joins a relay).
	stopListen context.CancelFunc
	listening  chan struct{} // closed when the reader has returned

	// released is closed when the engine stops driving the leg (release):
	// Call.finish waits for it, so the plan's last step is in the record.
	released    chan struct{}
	releaseOnce sync.Once
}

var _ call.Channel = (*callerChannel)(nil)

// maxPendingDigits bounds the digits a caller can queue ahead of the engine.
const maxPendingDigits = 64

func newCallerChannel(ctx context.Context, c *Call, dlg *sipgo.DialogServerSession, leg *media.Leg) *callerChannel {
	ch := &callerChannel{c: c, leg: leg, ctx: ctx, notify: make(chan struct{}, 1), released: make(chan struct{})}
	ch.dlg.Store(dlg)
	return ch
}

// release says the engine no longer drives the leg.
func (ch *callerChannel) release() { ch.releaseOnce.Do(func() { close(ch.released) }) }

// finish ends the call from the engine's own goroutine, which Call.finish
// must then not wait for. A call already ending is left to whoever ends it.
func (ch *callerChannel) finish(by call.Party, cause string, disp call.Disposition) {
	if ch.ctx.Err() != nil {
		return
	}
	ch.release()
	ch.c.finish(by, cause, disp)
}

// Context ends when the leg goes away.
func (ch *callerChannel) Context() context.Context { return ch.ctx }

// Audio takes what the caller says (media.Listener): to the recorder, if any.
func (ch *callerChannel) Audio(pcm []int16) {
	ch.mu.Lock()
	defer ch.mu.Unlock() // (Record returns only once no write is under way)
	if ch.sink != nil {
		_ = ch.sink.WriteSamples(pcm)
	}
}

// Digit takes a key the caller pressed, by RFC 4733, in-band or INFO.
func (ch *callerChannel) Digit(d byte) {
	ch.mu.Lock()
	if len(ch.pending) < maxPendingDigits {
		ch.pending = append(ch.pending, d)
	}
	ch.mu.Unlock()
	select {
	case ch.notify <- struct{}{}:
	default:
	}
}

// hasDigit reports whether a digit waits to be collected.
func (ch *callerChannel) hasDigit() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.pending) > 0
}

// nextDigit takes the first pending digit.
func (ch *callerChannel) nextDigit() (byte, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.pending) == 0 {
		return 0, false
	}
	d := ch.pending[0]
	ch.pending = ch.pending[1:]
	return d, true
}

// gone is the error for a leg that went away, or ctx's own.
func (ch *callerChannel) gone(ctx context.Context) error {
	if ch.ctx.Err() != nil {
		return call.ErrHungUp
	}
	return ctx.Err()
}

// Answer answers the caller with the PBX's SDP and starts hearing it.
func (ch *callerChannel) Answer(ctx context.Context) error {
	if ch.answered.Load() {
		return nil
	}
	if ch.ctx.Err() != nil {
		return call.ErrHungUp
	}
	dlg := ch.dlg.Load()
	c := ch.c
	c.mu.Lock()
	delayed := c.delayed
	body := c.aLocal.Marshal()
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, body)
	for _, h := range okHeaders() {
		res.AppendHeader(h)
	}
	c.armCaller(dlg.InviteRequest, res)
	// call.ended waits for this answer to settle (Call.finish); it is
	// settled before any finish here, which would wait for it.
	answering := make(chan struct{})
	settle := sync.OnceFunc(func() { close(answering) })
	defer settle()
	c.mu.Lock()
	c.answering = answering
	c.mu.Unlock()
	if err := dlg.WriteResponse(res); err != nil {
		settle()
		switch {
		case cancelledByCaller(dlg, err):
			ch.finish(call.ByCaller, call.CauseCallerCancel, call.Cancelled)
		case c.callerHungUp(dlg):
			// The caller's BYE overtook its ACK.
			ch.finish(call.ByCaller, call.CauseNormal, call.Answered)
		default:
			c.log.Warn("caller did not acknowledge the answer", "error", err)
			ch.finish(call.BySystem, call.CauseNoAck, call.Failed)
		}
		return call.ErrHungUp
	}
	// The caller acknowledged: from here a BYE or an API hangup ends an
	// answered call.
	c.mu.Lock()
	now := time.Now().UTC()
	c.rec.AnsweredAt = &now
	c.state = call.StateAnswered
	c.mu.Unlock()
	ch.answered.Store(true)
	if delayed {
		if err := c.takeAckAnswer(); err != nil {
			c.log.Warn("caller's answer in the ack unusable", "error", err)
			settle()
			ch.finish(call.BySystem, call.CauseNoCodec, call.Answered)
			return call.ErrHungUp
		}
	}
	// The dialog is confirmed: the call keeps what requests within it
	// need, and the INVITE's transaction and messages go.
	c.lighten(true)
	ch.dlg.Store(nil)
	if ch.ctx.Err() != nil {
		return call.ErrHungUp
	}
	c.watchMedia()
	ch.listen()
	settle()
	c.b2b.observeAnswer(c.rec.Direction, now.Sub(c.rec.StartedAt))
	c.log.Info("call answered by the pbx")
	c.answeredByPBX()
	return nil
}

// listen starts the leg's reader: digits and audio come to the channel.
func (ch *callerChannel) listen() {
	ctx, cancel := context.WithCancel(ch.ctx)
	done := make(chan struct{})
	ch.mu.Lock()
	ch.stopListen, ch.listening = cancel, done
	ch.mu.Unlock()
	go func() {
		defer close(done)
		if err := ch.leg.Listen(ctx, ch); err != nil && ctx.Err() == nil {
			ch.c.log.Error("the caller's leg cannot be heard: its digits are lost", "error", err)
		}
	}()
}

// unlisten stops the leg's reader and waits for it, so a relay can take
// the leg over.
func (ch *callerChannel) unlisten() {
	ch.mu.Lock()
	stop, done := ch.stopListen, ch.listening
	ch.stopListen, ch.listening = nil, nil
	ch.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Play plays prompts to the caller until they end, ctx ends or (with
// Interrupt) a digit arrives.
func (ch *callerChannel) Play(ctx context.Context, prompts []call.Prompt, opts call.PlayOptions) error {
	if err := ch.Answer(ctx); err != nil {
		return err
	}
	lib := ch.c.b2b.engine.Prompts
	if lib == nil {
		return errors.New("b2bua: no prompt library")
	}
	clips := make([][]int16, 0, len(prompts))
	for _, p := range prompts {
		pcm, err := lib.Samples(ctx, p, opts.Language)
		if err != nil {
			// A prompt deleted or broken since the plan was written is
			// skipped: the caller still gets the rest of the plan.
			ch.c.log.Warn("prompt unavailable, skipped", "prompt", p, "error", err)
			continue
		}
		clips = append(clips, pcm)
	}
	if len(clips) == 0 {
		return nil
	}
	playCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopPlay := context.AfterFunc(ch.ctx, cancel)
	defer stopPlay()
	if opts.Interrupt {
		if ch.hasDigit() {
			return nil
		}
		go func() {
			for {
				select {
				case <-ch.notify:
					if !ch.hasDigit() {
						continue // a wake-up an earlier collection left behind
					}
					// Put the wake-up back for the next Collect.
					select {
					case ch.notify <- struct{}{}:
					default:
					}
					cancel()
					return
				case <-playCtx.Done():
					return
				}
			}
		}()
	}
	for {
		for _, pcm := range clips {
			if err := ch.leg.Play(playCtx, pcm, false); err != nil {
				if ctx.Err() != nil || ch.ctx.Err() != nil {
					return ch.gone(ctx)
				}
				if playCtx.Err() != nil {
					return nil // interrupted by a digit
				}
				return err
			}
		}
		if !opts.Loop {
			return nil
		}
	}
}

// Collect gathers digits, first those already pressed.
func (ch *callerChannel) Collect(ctx context.Context, spec call.CollectSpec) (call.Collected, error) {
	if err := ch.Answer(ctx); err != nil {
		return call.Collected{}, err
	}
	var got []byte
	wait := spec.FirstDigit
	for {
		if d, ok := ch.nextDigit(); ok {
			if spec.Terminator != 0 && d == spec.Terminator {
				return call.Collected{Digits: string(got), End: call.CollectTerminated}, nil
			}
			got = append(got, d)
			if spec.Max > 0 && len(got) >= spec.Max {
				return call.Collected{Digits: string(got), End: call.CollectMax}, nil
			}
			wait = spec.InterDigit
			continue
		}
		timer := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ch.notify:
			timer.Stop()
		case <-timer.C:
			if !ch.hasDigit() {
				return call.Collected{Digits: string(got), End: call.CollectTimeout}, nil
			}
		case <-ctx.Done():
			timer.Stop()
			return call.Collected{Digits: string(got)}, ch.gone(ctx)
		case <-ch.ctx.Done():
			timer.Stop()
			return call.Collected{Digits: string(got)}, call.ErrHungUp
		}
	}
}

// Record writes what the caller says to sink until ctx ends.
func (ch *callerChannel) Record(ctx context.Context, sink call.Sink) error {
	if err := ch.Answer(ctx); err != nil {
		return err
	}
	ch.mu.Lock()
	ch.sink = sink
	ch.mu.Unlock()
	defer func() {
		ch.mu.Lock()
		ch.sink = nil
		ch.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ch.gone(ctx)
	case <-ch.ctx.Done():
		return call.ErrHungUp
	}
}

// Bridge relays audio between this leg and another leg the PBX answered
// (of this call or another) until ctx ends or either leg goes away; then
// each leg still up is heard by the engine again.
func (ch *callerChannel) Bridge(ctx context.Context, other call.Channel) error {
	o, ok := other.(*callerChannel)
	if !ok || o == ch {
		return fmt.Errorf("b2bua: cannot bridge to %T: %w", other, core.ErrInvalid)
	}
	for _, x := range []*callerChannel{ch, o} {
		if err := x.Answer(ctx); err != nil {
			return err
		}
	}
	ch.unlisten()
	o.unlisten()
	relay := startRelay(ch.leg, o.leg)
	select {
	case <-ctx.Done():
	case <-ch.ctx.Done():
	case <-o.ctx.Done():
	}
	relay.Stop()
	for _, x := range []*callerChannel{ch, o} {
		if x.ctx.Err() == nil {
			x.listen()
		}
	}
	return ch.gone(ctx)
}

// Hangup ends the call with cause.
func (ch *callerChannel) Hangup(ctx context.Context, cause string) error {
	if !ch.answered.Load() {
		code, reason := causeStatus(cause)
		if dlg := ch.dlg.Load(); dlg != nil && dlg.Context().Err() == nil {
			_ = dlg.Respond(code, reason, nil)
		}
		ch.finish(call.BySystem, cause, call.Failed)
		return nil
	}
	ch.finish(call.BySystem, cause, call.Answered)
	return nil
}

// causeStatus is the final response a caller not yet answered gets for a cause.
func causeStatus(cause string) (int, string) {
	switch cause {
	case call.CauseRejected:
		return 603, "Decline"
	case call.CauseNoRoute:
		return sip.StatusServiceUnavailable, "No Route"
	case call.CauseUnknownNumber:
		return sip.StatusNotFound, "Not Found"
	case call.CauseBusy:
		return sip.StatusBusyHere, "Busy Here"
	case call.CauseNoAnswer, call.CauseNotRegistered, call.CauseDisabled, call.CausePlanHangup, call.CausePlanLoop,
		call.CauseInvalidInput, call.CauseNoInput:
		return sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"
	case call.CauseAPIHangup:
		return sip.StatusRequestTerminated, "Request Terminated"
	case call.CauseShutdown:
		return sip.StatusServiceUnavailable, "Shutting Down"
	}
	return sip.StatusInternalServerError, "Server Error"
}
