package b2bua

import (
	"context"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// emit appends a call event to the outbox and waits for it to be committed,
// so a call's events keep their order. extra adjusts the payload.
func (c *Call) emit(t core.EventType, extra func(*call.EventData)) {
	if c.b2b.events == nil {
		return
	}
	c.mu.Lock()
	r := c.rec
	exts := make([]core.ExtensionID, 0, 2)
	d := call.EventData{
		CallID: string(r.ID), SIPCallID: r.SIPCallID, Direction: r.Direction, FromNumber: r.FromNumber,
		FromName: r.FromName, ToNumber: r.ToNumber, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt, EndedAt: r.EndedAt,
		TrunkID: r.TrunkID, NumberID: r.NumberID,
	}
	if c.fromExt != "" {
		d.FromExtensionID = string(c.fromExt)
		exts = append(exts, c.fromExt)
	}
	if c.toExt != "" {
		d.ToExtensionID = string(c.toExt)
		exts = append(exts, c.toExt)
	}
	c.mu.Unlock()
	if extra != nil {
		extra(&d)
	}
	ev := core.NewEvent(t, time.Now(), "call:"+string(r.ID), exts, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.b2b.events.AppendEvents(ctx, ev); err != nil {
		c.log.Error("append call event", "type", t, "error", err)
	}
}

// emitEnd appends call.ended with the record summary, and call.missed when
// the callee never answered.
func (c *Call) emitEnd(rec call.Record) {
	summary := func(d *call.EventData) {
		d.Disposition, d.HangupCause, d.HangupBy = string(rec.Disposition), rec.HangupCause, string(rec.HangupBy)
		d.RingSeconds, d.TalkSeconds = rec.RingSeconds(), rec.TalkSeconds()
	}
	c.emit(core.EventCallEnded, summary)
	missed := rec.Disposition == call.NoAnswer || rec.Disposition == call.Busy || rec.Disposition == call.Cancelled ||
		(rec.Disposition == call.Failed && rec.HangupCause == call.CauseNotRegistered)
	c.mu.Lock()
	hasCallee := c.toExt != ""
	c.mu.Unlock()
	if missed && hasCallee {
		c.emit(core.EventCallMissed, summary)
	}
}
