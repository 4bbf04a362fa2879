// Package routing turns who called and what they dialled into a typed
// target: the one place that decides where a call goes.
package routing

import "github.com/dialtone-pbx/dialtone/core"

// Kind names what a target is.
type Kind string

// Target kinds. Later features (ring groups, queues, voicemail,
// conferences, park) add kinds with their own id field.
const (
	KindExtension      Kind = "extension"
	KindExternalNumber Kind = "external_number"
	KindCallPlan       Kind = "call_plan"
	KindReject         Kind = "reject"
)

// Target is where a call goes.
type Target struct {
	Kind Kind `json:"type"`
	// ExtensionID is set for an extension target.
	ExtensionID core.ExtensionID `json:"extension_id,omitempty"`
	// Number is an external number's E.164 form (reached through the
	// outbound routes).
	Number string `json:"number,omitempty"`
	// CallPlanID is set for a call_plan target.
	CallPlanID string `json:"call_plan_id,omitempty"`
}
