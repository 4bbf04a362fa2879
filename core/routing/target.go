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
	// KindFeature is a feature code an extension dialled (FeatureName, Arg).
	KindFeature Kind = "feature"
)

// Features a feature-code target runs.
const (
	// FeatureScheduleToggle flips a schedule's override between closed and
	// none ("night mode"); Arg is the schedule's override code.
	FeatureScheduleToggle = "schedule_toggle"
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
	// Feature and Arg are set for a feature target.
	Feature string `json:"-"`
	Arg     string `json:"-"`
}

// FromRoute is the target a number's route names.
func FromRoute(r core.Route) Target {
	switch r.Type {
	case core.RouteExtension:
		return Target{Kind: KindExtension, ExtensionID: r.ExtensionID}
	case core.RouteExternalNumber:
		return Target{Kind: KindExternalNumber, Number: r.Number}
	case core.RouteCallPlan:
		return Target{Kind: KindCallPlan, CallPlanID: r.CallPlanID}
	}
	return Target{Kind: KindReject}
}
