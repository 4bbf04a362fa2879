package call

import "time"

// PlanStep is one node of a call plan a call went through: which plan and
// node, what the caller pressed there and where it led.
type PlanStep struct {
	PlanID string    `json:"plan_id"`
	Node   string    `json:"node"`
	Kind   string    `json:"kind"`
	Digits string    `json:"digits,omitempty"`
	Result string    `json:"result,omitempty"`
	At     time.Time `json:"at"`
}
