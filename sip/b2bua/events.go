package b2bua

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// RecordQueue is the store's ordered intake for a call's runtime writes:
// each returns once the write is queued, without waiting for the disk, and
// fails only when it can never be written (a closed store). Writes queued
// for a call commit in queue order, the record before its events. The
// B2BUA uses it when its record repository provides it.
type RecordQueue interface {
	QueueCallRecordCreate(r *call.Record) error
	QueueCallRecordFinish(r *call.Record) error
}

// EventQueue queues events like RecordQueue; the B2BUA uses it when its
// event log provides it.
type EventQueue interface {
	QueueEvents(events ...core.Event) error
}

// WriteAdmission says whether the store keeps up with its writes; the
// B2BUA asks it before taking a new call when its record repository
// provides it.
type WriteAdmission interface {
	// AdmitWrites is false while the write backlog is too deep; it counts
	// and logs each refusal.
	AdmitWrites() bool
}

// storeTimeout bounds a synchronous write when the store has no queue.
const storeTimeout = 10 * time.Second

// createRecord queues the record of a call that starts.
func (b *B2BUA) createRecord(r *call.Record) error {
	if q, ok := b.records.(RecordQueue); ok {
		return q.QueueCallRecordCreate(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return b.records.CreateCallRecord(ctx, r)
}

// finishRecord queues the final state of a call.
func (b *B2BUA) finishRecord(r *call.Record) error {
	if q, ok := b.records.(RecordQueue); ok {
		return q.QueueCallRecordFinish(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return b.records.FinishCallRecord(ctx, r)
}

// admit reports whether a new call may start; a call refused for
// back-pressure gets 503 with Retry-After (RFC 3261 §21.5.4, §20.33) before
// any state exists for it, so callers come back once the backlog drains.
func (b *B2BUA) admit(req *sip.Request, tx sip.ServerTransaction) bool {
	if b.writesAdmitted() {
		return true
	}
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Overloaded", nil)
	// 2 to 5 s, spread so refused callers do not all come back at once.
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(2+rand.IntN(4))))
	_ = tx.Respond(res)
	return false
}

// emergency reports whether dialled is an emergency number (with or
// without the *82 prefix that hides the caller ID).
func (b *B2BUA) emergency(dialled string) bool {
	dialled = strings.TrimPrefix(dialled, "*82")
	return slices.Contains(b.cfg.Emergency, dialled)
}

func (b *B2BUA) writesAdmitted() bool {
	a, ok := b.records.(WriteAdmission)
	return !ok || a.AdmitWrites()
}

// emit queues a call event for the outbox; a call's events keep the order
// of their emit calls. extra adjusts the payload.
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
	var err error
	if q, ok := c.b2b.events.(EventQueue); ok {
		err = q.QueueEvents(ev)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err = c.b2b.events.AppendEvents(ctx, ev)
		cancel()
	}
	if err != nil {
		c.log.Error("append call event", "type", t, "error", err)
	}
}

// ringing publishes call.ringing, once per call. Every callee that answers
// was alerted, so an answer publishes it first when no provisional did: a
// callee that answers at once sends none, and the 180 sent just before a
// 200 may reach the PBX after it (UDP keeps no order, and a provisional
// after the final response is dropped). Forks that ring and a fork that
// answers run at once: the event is written under ringMu, so call.ringing
// never follows call.answered.
func (c *Call) ringing() {
	c.ringMu.Lock()
	defer c.ringMu.Unlock()
	if c.rang {
		return
	}
	c.rang = true
	c.emit(core.EventCallRinging, nil)
}

// answeredByPBX publishes call.answered for a call the PBX answered itself:
// no callee rang, and a provisional of a fork given up for it (a late 180 or
// 183) publishes no call.ringing after it.
func (c *Call) answeredByPBX() {
	c.ringMu.Lock()
	c.rang = true
	c.ringMu.Unlock()
	c.emit(core.EventCallAnswered, nil)
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
