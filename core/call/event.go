package call

import (
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// NewEventData is the payload of a call.* event as record r gives it, for a
// call between the extensions from and to ("" when a side is not an
// extension). It also returns the extensions the event concerns.
func NewEventData(r *Record, from, to core.ExtensionID) (EventData, []core.ExtensionID) {
	d := EventData{
		CallID: string(r.ID), SIPCallID: r.SIPCallID, Direction: r.Direction, FromNumber: r.FromNumber,
		FromName: r.FromName, ToNumber: r.ToNumber, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt, EndedAt: r.EndedAt,
		TrunkID: r.TrunkID, OutboundTrunkID: r.OutboundTrunkID, NumberID: r.NumberID,
	}
	exts := make([]core.ExtensionID, 0, 2)
	if from != "" {
		d.FromExtensionID = string(from)
		exts = append(exts, from)
	}
	if to != "" {
		d.ToExtensionID = string(to)
		exts = append(exts, to)
	}
	return d, exts
}

// Summarize adds the end-of-call summary of r to d, as call.ended and
// call.missed carry it.
func (d *EventData) Summarize(r *Record) {
	d.Disposition, d.HangupCause, d.HangupBy = string(r.Disposition), r.HangupCause, string(r.HangupBy)
	d.RingSeconds, d.TalkSeconds = r.RingSeconds(), r.TalkSeconds()
}

// Missed reports whether a finished call counts as missed for its callee.
func (r *Record) Missed() bool {
	return r.Disposition == NoAnswer || r.Disposition == Busy || r.Disposition == Cancelled ||
		(r.Disposition == Failed && r.HangupCause == CauseNotRegistered)
}

// EndEvents are the events of a finished call: call.ended, and call.missed
// when the callee is an extension and the call counts as missed.
func EndEvents(r *Record, from, to core.ExtensionID, at time.Time) []core.Event {
	d, exts := NewEventData(r, from, to)
	d.Summarize(r)
	key := "call:" + string(r.ID)
	evs := []core.Event{core.NewEvent(core.EventCallEnded, at, key, exts, d)}
	if to != "" && r.Missed() {
		evs = append(evs, core.NewEvent(core.EventCallMissed, at, key, exts, d))
	}
	return evs
}
