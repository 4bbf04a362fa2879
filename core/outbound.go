package core

import (
	"context"
	"time"
)

// OutboundRouteID identifies an outbound route ("obr_...").
type OutboundRouteID string

// PrefixOutboundRoute is the prefix of outbound route ids.
const PrefixOutboundRoute = "obr_"

// OutboundRoute sends dialled numbers that match its patterns out through
// its trunks, in failover order. Routes are tried by ascending Position.
type OutboundRoute struct {
	ID        OutboundRouteID
	Name      string
	Patterns  []string
	Prepend   string
	TrunkIDs  []TrunkID
	CallerID  string // E.164 presented when the extension has none
	Enabled   bool
	Position  int
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OutboundRouteRepo stores outbound routes.
type OutboundRouteRepo interface {
	CreateOutboundRoute(ctx context.Context, r *OutboundRoute) error
	GetOutboundRoute(ctx context.Context, id OutboundRouteID) (*OutboundRoute, error)
	// ListOutboundRoutes returns every route in order.
	ListOutboundRoutes(ctx context.Context) ([]*OutboundRoute, error)
	UpdateOutboundRoute(ctx context.Context, r *OutboundRoute, expectVersion int64) error
	DeleteOutboundRoute(ctx context.Context, id OutboundRouteID) error
}

// Validate checks a route.
func (r *OutboundRoute) Validate() error {
	var v ValidationError
	if r.Name == "" || len(r.Name) > 100 || hasControl(r.Name) {
		v.Add("name", "must be 1 to 100 printable characters", r.Name)
	}
	if len(r.Patterns) == 0 {
		v.Add("patterns", "needs at least one dial pattern", nil)
	}
	for _, p := range r.Patterns {
		if _, err := ParseDialPattern(p); err != nil {
			v.Add("patterns", err.Error(), p)
		}
	}
	for _, c := range r.Prepend {
		if !(c >= '0' && c <= '9' || c == '+' || c == '*' || c == '#') {
			v.Add("prepend", "may hold only digits, +, * and #", r.Prepend)
			break
		}
	}
	if len(r.TrunkIDs) == 0 {
		v.Add("trunk_ids", "needs at least one trunk", nil)
	}
	if r.CallerID != "" && !e164RE.MatchString(r.CallerID) {
		v.Add("caller_id", "must be empty or an E.164 number", r.CallerID)
	}
	return v.Err()
}

// Match returns the number to send for dialled, or false.
func (r *OutboundRoute) Match(dialled string) (string, bool) {
	for _, s := range r.Patterns {
		p, err := ParseDialPattern(s)
		if err != nil {
			continue
		}
		if out, ok := p.Match(dialled); ok {
			return r.Prepend + out, true
		}
	}
	return "", false
}

// Failover reports whether a failed attempt on one trunk should be tried on
// the next: timeouts, transport failures (0) and server errors are the
// trunk's fault; busy, declined, not found and incomplete are the callee's answer.
func Failover(status int) bool {
	switch {
	case status == 0, status == 408:
		return true
	case status >= 500 && status <= 599:
		return true
	}
	return false
}
