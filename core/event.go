package core

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// EventType names what happened.
type EventType string

// Event types. Each has its payload type below; the OpenAPI document lists
// them under webhooks.
const (
	EventCallCreated         EventType = "call.created"
	EventCallRinging         EventType = "call.ringing"
	EventCallAnswered        EventType = "call.answered"
	EventCallHeld            EventType = "call.held"
	EventCallResumed         EventType = "call.resumed"
	EventCallTransferred     EventType = "call.transferred"
	EventCallEnded           EventType = "call.ended"
	EventCallMissed          EventType = "call.missed"
	EventCallPlanNode        EventType = "call.plan_node"
	EventRegistrationCreated EventType = "registration.created"
	EventRegistrationRemoved EventType = "registration.removed"
	EventTrunkStatusChanged  EventType = "trunk.status_changed"
	EventExtensionCreated    EventType = "extension.created"
	EventExtensionUpdated    EventType = "extension.updated"
	EventExtensionDeleted    EventType = "extension.deleted"
	EventSecurityIPBanned    EventType = "security.ip_banned"
	EventWebhookDisabled     EventType = "webhook.disabled"
	EventWebhookPing         EventType = "webhook.ping"
)

// EventTypes lists every type an integrator can subscribe to.
var EventTypes = []EventType{
	EventCallCreated, EventCallRinging, EventCallAnswered, EventCallHeld, EventCallResumed,
	EventCallTransferred, EventCallEnded, EventCallMissed, EventCallPlanNode, EventRegistrationCreated,
	EventRegistrationRemoved, EventTrunkStatusChanged, EventExtensionCreated, EventExtensionUpdated,
	EventExtensionDeleted, EventSecurityIPBanned, EventWebhookDisabled,
}

// MatchEventType reports whether pattern ("call.ended", "call.*" or "*") covers t.
func MatchEventType(pattern string, t EventType) bool {
	if pattern == "*" || pattern == string(t) {
		return true
	}
	prefix, ok := strings.CutSuffix(pattern, ".*")
	return ok && strings.HasPrefix(string(t), prefix+".")
}

// ValidEventPattern reports whether p names a known type or a wildcard over one.
func ValidEventPattern(p string) bool {
	for _, t := range EventTypes {
		if MatchEventType(p, t) {
			return true
		}
	}
	return false
}

// Event is one entry of the durable outbox.
type Event struct {
	ID         string // "evt_..."
	Sequence   int64  // assigned by the outbox, strictly increasing
	Type       EventType
	OccurredAt time.Time
	// OrderKey groups events that must reach a subscriber in sequence order,
	// such as all events of one call. Events with different keys do not wait
	// for each other.
	OrderKey string
	// Extensions are the extensions the event concerns; a member API key sees
	// the events of its own extension only.
	Extensions []ExtensionID
	Data       json.RawMessage
}

// PrefixEvent is the prefix of event ids.
const PrefixEvent = "evt_"

// NewEvent builds an event with a fresh id; data is marshalled to JSON.
func NewEvent(t EventType, at time.Time, orderKey string, exts []ExtensionID, data any) Event {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte("{}")
	}
	return Event{ID: NewOrderedID(PrefixEvent), Type: t, OccurredAt: at.UTC(), OrderKey: orderKey, Extensions: exts, Data: b}
}

// EventLog is the durable outbox events are appended to. Append returns once
// the events are committed.
type EventLog interface {
	AppendEvents(ctx context.Context, events ...Event) error
}

// ExtensionEventData is the payload of extension.* events.
type ExtensionEventData struct {
	ExtensionID string `json:"extension_id"`
	Number      string `json:"number"`
	Name        string `json:"name"`
	Email       string `json:"email,omitempty"`
	Enabled     bool   `json:"enabled"`
}

// ExtensionEvent builds an extension.* event.
func ExtensionEvent(t EventType, e *Extension, at time.Time) Event {
	return NewEvent(t, at, "extension:"+string(e.ID), []ExtensionID{e.ID}, ExtensionEventData{
		ExtensionID: string(e.ID), Number: e.Number, Name: e.Name, Email: e.Email, Enabled: e.Enabled,
	})
}

// RegistrationEventData is the payload of registration.* events.
type RegistrationEventData struct {
	ExtensionID   string    `json:"extension_id"`
	SIPUsername   string    `json:"sip_username"`
	Contact       string    `json:"contact"`
	SourceAddress string    `json:"source_address"`
	Transport     string    `json:"transport"`
	UserAgent     string    `json:"user_agent"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// SecurityBanData is the payload of security.ip_banned.
type SecurityBanData struct {
	IP       string    `json:"ip"`
	Failures int       `json:"failures" doc:"Authentication failures that led to the ban (0 for a flood)."`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason" enum:"auth_failures,flood" doc:"auth_failures: repeated wrong credentials; flood: more unauthenticated traffic than the per-source limit, for too long."`
}

// WebhookEventData is the payload of webhook.disabled and webhook.ping.
type WebhookEventData struct {
	WebhookID string `json:"webhook_id"`
	Reason    string `json:"reason,omitempty"`
}

// TrunkStatusData is the payload of trunk.status_changed.
type TrunkStatusData struct {
	TrunkID string `json:"trunk_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}
