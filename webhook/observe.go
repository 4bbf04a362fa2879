package webhook

import "github.com/dialtone-pbx/dialtone/core"

// Observer is told about each delivery attempt the dispatcher makes, for
// monitoring: its outcome (status and latency) and the delivery's state
// after it (pending again for a retry, succeeded, or failed for good).
type Observer interface {
	DeliveryAttempted(res core.AttemptResult, state core.DeliveryStatus)
}

func (d *Dispatcher) observe(res core.AttemptResult, state core.DeliveryStatus) {
	if d.Observer != nil {
		d.Observer.DeliveryAttempted(res, state)
	}
}
