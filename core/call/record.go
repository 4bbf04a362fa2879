// Package call holds the runtime vocabulary of calls: states, dispositions,
// call records and the repository they are written to.
package call

import (
	"context"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// ID identifies a call ("call_...").
type ID string

// PrefixCall is the prefix of call ids.
const PrefixCall = "call_"

// NewID returns a fresh call id, later than the ones before it (see
// core.NewOrderedID).
func NewID() ID { return ID(core.NewOrderedID(PrefixCall)) }

// Direction says where a call came from and went to.
type Direction string

// Directions.
const (
	Internal Direction = "internal"
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Disposition is how a call ended, as a report would count it.
type Disposition string

// Dispositions.
const (
	Answered  Disposition = "answered"
	NoAnswer  Disposition = "no_answer"
	Busy      Disposition = "busy"
	Failed    Disposition = "failed"
	Cancelled Disposition = "cancelled"
)

// Party says who ended a call.
type Party string

// Parties.
const (
	ByCaller Party = "caller"
	ByCallee Party = "callee"
	BySystem Party = "system"
)

// Hangup causes recorded on call records.
const (
	CauseNormal        = "normal_clearing"
	CauseCallerCancel  = "caller_cancel"
	CauseBusy          = "busy"
	CauseDeclined      = "declined"
	CauseNoAnswer      = "no_answer"
	CauseNotRegistered = "not_registered"
	CauseUnknownNumber = "unknown_number"
	CauseDisabled      = "extension_disabled"
	CauseNoCodec       = "incompatible_media"
	CauseMediaTimeout  = "media_timeout"
	CauseNoAck         = "no_ack"
	CauseAPIHangup     = "api_hangup"
	CauseShutdown      = "shutdown"
	CauseRejected      = "rejected"
	CauseNoRoute       = "no_route"
	CauseError         = "error"
	// CauseCalleeError: the callee's phone answered with a server error
	// (5xx); the PBX itself is fine.
	CauseCalleeError = "callee_error"
	// CauseSessionTimer: a leg's session was not refreshed in time, or
	// the PBX's refresh failed (RFC 4028 §10).
	CauseSessionTimer = "session_timer_expired"
	// Calls a call plan ended: a hangup node, a menu left without a
	// valid choice (invalid digits, or none), a plan that went round too
	// many nodes.
	CausePlanHangup   = "plan_hangup"
	CauseInvalidInput = "invalid_input"
	CauseNoInput      = "no_input"
	CausePlanLoop     = "plan_loop"
)

// LegQuality is the media summary of one leg.
type LegQuality struct {
	Codec      string  `json:"codec"`
	PacketsIn  uint64  `json:"packets_in"`
	PacketsOut uint64  `json:"packets_out"`
	BytesIn    uint64  `json:"bytes_in"`
	BytesOut   uint64  `json:"bytes_out"`
	Lost       uint64  `json:"lost"`
	JitterMs   float64 `json:"jitter_ms"`
}

// Record is the call record (CDR) of one call.
type Record struct {
	ID                ID
	SIPCallID         string
	Direction         Direction
	FromNumber        string
	FromName          string
	ToNumber          string
	TrunkID           string // inbound calls: the trunk the call came in on; outbound calls: the trunk used
	OutboundTrunkID   string // inbound calls sent back out (a forwarded number, a call plan's transfer): the trunk they left on
	NumberID          string // inbound calls: the number dialled
	Attempts          int    // calls sent out through a trunk: trunks tried (more than one after failover)
	Dialled           string // what the caller dialled, before patterns and normalisation
	CallerIDPresented string // calls sent out through a trunk: the caller ID sent to it ("anonymous" when hidden)
	StartedAt         time.Time
	AnsweredAt        *time.Time
	EndedAt           *time.Time
	Disposition       Disposition
	HangupCause       string
	HangupBy          Party
	Caller            LegQuality
	Callee            LegQuality
	// PlanPath is the way the call took through call plans, in order.
	PlanPath []PlanStep
}

// centiseconds rounds a duration to hundredths of a second.
func centiseconds(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond).Milliseconds()) / 1000
}

// RingSeconds is the time from start to answer (or to the end, unanswered),
// to the hundredth of a second.
func (r *Record) RingSeconds() float64 {
	end := r.EndedAt
	if r.AnsweredAt != nil {
		end = r.AnsweredAt
	}
	if end == nil {
		return 0
	}
	return centiseconds(end.Sub(r.StartedAt))
}

// TalkSeconds is the time from answer to end, to the hundredth of a second.
func (r *Record) TalkSeconds() float64 {
	if r.AnsweredAt == nil || r.EndedAt == nil {
		return 0
	}
	return centiseconds(r.EndedAt.Sub(*r.AnsweredAt))
}

// Filter narrows a list of call records.
type Filter struct {
	From, To    time.Time // started_at range; zero means open
	Number      string    // from or to number
	Disposition Disposition
	Direction   Direction
}

// RecordRepo stores call records. A record is created when a call starts and
// finished when it ends, so a crash leaves evidence that CloseDangling closes.
type RecordRepo interface {
	CreateCallRecord(ctx context.Context, r *Record) error
	FinishCallRecord(ctx context.Context, r *Record) error
	GetCallRecord(ctx context.Context, id ID) (*Record, error)
	ListCallRecords(ctx context.Context, f Filter, p core.PageRequest) (core.Page[*Record], error)
	// EachCallRecord streams every record matching f, oldest first.
	EachCallRecord(ctx context.Context, f Filter, fn func(*Record) error) error
	// CloseDanglingCallRecords ends records left open by a stopped server.
	CloseDanglingCallRecords(ctx context.Context, at time.Time, cause string) (int, error)
}

// State is the state of a live call.
type State int

// States of a live call.
const (
	StateUnknown State = iota
	StateRouting
	StateRinging
	StateAnswered
	StateEnded
)

func (s State) String() string {
	switch s {
	case StateRouting:
		return "routing"
	case StateRinging:
		return "ringing"
	case StateAnswered:
		return "answered"
	case StateEnded:
		return "ended"
	}
	return "unknown"
}

// LegSnapshot is the live view of one leg.
type LegSnapshot struct {
	Role    string     `json:"role"` // caller or callee
	Number  string     `json:"number"`
	Contact string     `json:"contact"`
	Quality LegQuality `json:"media"`
}

// Snapshot is the live view of a call.
type Snapshot struct {
	ID         ID
	SIPCallID  string
	Direction  Direction
	State      State
	FromNumber string
	FromName   string
	ToNumber   string
	StartedAt  time.Time
	AnsweredAt *time.Time
	Legs       []LegSnapshot
}

// Originate asks for a click-to-call: ring From (an extension number); when
// it answers, dial To and connect the two.
type Originate struct {
	From       string
	To         string
	AutoAnswer bool // ask From's phone to answer by itself (desk phone intercom)
}

// Control is the live call control the API uses.
type Control interface {
	// Calls returns snapshots of the live calls q selects, in list order.
	Calls(q LiveQuery) []Snapshot
	Call(id ID) (Snapshot, bool)
	Hangup(ctx context.Context, id ID) error
	Originate(ctx context.Context, o Originate) (ID, error)
	// Hold puts both parties on hold (hold true) or takes them off it.
	Hold(ctx context.Context, id ID, hold bool) error
	// SendDTMF plays RFC 4733 digits to one party ("caller" or "callee").
	SendDTMF(ctx context.Context, id ID, party string, digits string) error
	// Transfer connects the party that stays to number instead of the other
	// party ("caller" or "callee", the one released); blind transfer.
	Transfer(ctx context.Context, id ID, released string, number string) error
}

// EventData is the payload of every call.* event: stable ids plus what a CRM
// needs to log the call. Fields that do not apply yet are omitted.
type EventData struct {
	CallID          string     `json:"call_id"`
	SIPCallID       string     `json:"sip_call_id"`
	Direction       Direction  `json:"direction"`
	FromNumber      string     `json:"from_number"`
	FromName        string     `json:"from_name,omitempty"`
	FromExtensionID string     `json:"from_extension_id,omitempty"`
	TrunkID         string     `json:"trunk_id,omitempty"`
	OutboundTrunkID string     `json:"outbound_trunk_id,omitempty"`
	NumberID        string     `json:"number_id,omitempty"`
	ToNumber        string     `json:"to_number"`
	ToExtensionID   string     `json:"to_extension_id,omitempty"`
	StartedAt       time.Time  `json:"started_at"`
	AnsweredAt      *time.Time `json:"answered_at,omitempty"`
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	RingSeconds     float64    `json:"ring_seconds,omitempty"`
	TalkSeconds     float64    `json:"talk_seconds,omitempty"`
	Disposition     string     `json:"disposition,omitempty"`
	HangupCause     string     `json:"hangup_cause,omitempty"`
	HangupBy        string     `json:"hangup_by,omitempty"`
	HeldBy          string     `json:"held_by,omitempty"` // call.held / call.resumed: caller or callee
	TransferredTo   string     `json:"transferred_to,omitempty"`
	// Plan is the node a call.plan_node event reports.
	Plan *PlanStep `json:"plan,omitempty"`
}
