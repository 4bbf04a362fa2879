package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// NumberID identifies a phone number ("num_...").
type NumberID string

// PrefixNumber is the prefix of phone number ids.
const PrefixNumber = "num_"

// RouteType names where a number's calls go. Later targets (call plan, ring
// group, queue, voicemail box, conference) add types with their own id field.
type RouteType string

// Route types.
const (
	RouteExtension      RouteType = "extension"
	RouteExternalNumber RouteType = "external_number"
	RouteReject         RouteType = "reject"
	RouteCallPlan       RouteType = "call_plan"
)

// Route is a typed call target. An external_number target is reached
// through the first outbound route whose patterns match its E.164 form.
type Route struct {
	Type        RouteType   `json:"type"`
	ExtensionID ExtensionID `json:"extension_id,omitempty"`
	Number      string      `json:"number,omitempty"`
	CallPlanID  string      `json:"call_plan_id,omitempty"`
}

// NumberKind classifies a number.
type NumberKind string

// Number kinds.
const (
	KindLocal    NumberKind = "local"
	KindTollFree NumberKind = "toll_free"
	KindMobile   NumberKind = "mobile"
	KindNational NumberKind = "national"
)

// PhoneNumber is a DID: a public number delivered by a trunk and routed to a target.
type PhoneNumber struct {
	ID             NumberID
	Number         string // E.164
	Name           string
	CallerIDName   string
	Kind           NumberKind
	Direction      string // bidirectional or inbound_only
	TrunkID        TrunkID
	Route          Route
	RecordInbound  bool
	RecordOutbound bool
	BlockCallerID  bool
	BillingGroup   string
	// MOHClassID is the music callers to this number hear on hold; empty
	// for the default class.
	MOHClassID string
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NumberRepo stores phone numbers.
type NumberRepo interface {
	CreateNumber(ctx context.Context, n *PhoneNumber) error
	GetNumber(ctx context.Context, id NumberID) (*PhoneNumber, error)
	NumberByE164(ctx context.Context, e164 string) (*PhoneNumber, error)
	ListNumbers(ctx context.Context, p PageRequest) (Page[*PhoneNumber], error)
	UpdateNumber(ctx context.Context, n *PhoneNumber, expectVersion int64) error
	DeleteNumber(ctx context.Context, id NumberID) error
}

// NormalizeNumber turns what a user or a carrier wrote into E.164, reading
// national forms in the home country, and classifies it.
func NormalizeNumber(raw, country string) (string, NumberKind, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", fmt.Errorf("empty number: %w", ErrInvalid)
	}
	if strings.HasPrefix(raw, "00") {
		raw = "+" + raw[2:]
	}
	n, err := phonenumbers.Parse(raw, country)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", "", fmt.Errorf("%q is not a phone number: %w", raw, ErrInvalid)
	}
	return phonenumbers.Format(n, phonenumbers.E164), kindOf(n, country), nil
}

func kindOf(n *phonenumbers.PhoneNumber, country string) NumberKind {
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.TOLL_FREE:
		return KindTollFree
	case phonenumbers.MOBILE:
		return KindMobile
	}
	if phonenumbers.GetRegionCodeForNumber(n) != country {
		return KindNational
	}
	return KindLocal
}

// NumberSpec is what the creator of a number sets.
type NumberSpec struct {
	Number         string
	Name           string
	CallerIDName   string
	Kind           NumberKind
	Direction      string
	TrunkID        TrunkID
	Route          Route
	RecordInbound  bool
	RecordOutbound bool
	BlockCallerID  bool
	BillingGroup   string
	MOHClassID     string
}

// Apply validates spec (numbers normalised in country) onto n.
func (spec NumberSpec) Apply(n *PhoneNumber, country string) error {
	var v ValidationError
	e164, kind, err := NormalizeNumber(spec.Number, country)
	if err != nil {
		v.Add("number", "must be a phone number, E.164 (+14155550100) or national", spec.Number)
	}
	if spec.Kind == "" {
		spec.Kind = kind
	}
	switch spec.Kind {
	case KindLocal, KindTollFree, KindMobile, KindNational:
	default:
		v.Add("kind", "must be local, toll_free, mobile or national", spec.Kind)
	}
	if spec.Direction == "" {
		spec.Direction = "bidirectional"
	}
	if spec.Direction != "bidirectional" && spec.Direction != "inbound_only" {
		v.Add("direction", "must be bidirectional or inbound_only", spec.Direction)
	}
	for f, s := range map[string]string{"name": spec.Name, "caller_id_name": spec.CallerIDName, "billing_group": spec.BillingGroup} {
		if len(s) > 100 || hasControl(s) {
			v.Add(f, "must be at most 100 printable characters", s)
		}
	}
	switch spec.Route.Type {
	case RouteExtension:
		if spec.Route.ExtensionID == "" || spec.Route.Number != "" || spec.Route.CallPlanID != "" {
			v.Add("route.extension_id", "an extension route names extension_id and nothing else", spec.Route.ExtensionID)
		}
	case RouteExternalNumber:
		if ext, _, err := NormalizeNumber(spec.Route.Number, country); err != nil || spec.Route.ExtensionID != "" || spec.Route.CallPlanID != "" {
			v.Add("route.number", "an external_number route names an E.164 number and nothing else", spec.Route.Number)
		} else {
			spec.Route.Number = ext
		}
	case RouteCallPlan:
		if spec.Route.CallPlanID == "" || spec.Route.ExtensionID != "" || spec.Route.Number != "" {
			v.Add("route.call_plan_id", "a call_plan route names call_plan_id and nothing else", spec.Route.CallPlanID)
		}
	case RouteReject:
		if spec.Route.ExtensionID != "" || spec.Route.Number != "" || spec.Route.CallPlanID != "" {
			v.Add("route", "a reject route names nothing else", nil)
		}
	default:
		v.Add("route.type", "must be extension, external_number, call_plan or reject", spec.Route.Type)
	}
	if err := v.Err(); err != nil {
		return err
	}
	n.Number, n.Name, n.CallerIDName, n.Kind, n.Direction = e164, spec.Name, spec.CallerIDName, spec.Kind, spec.Direction
	n.TrunkID, n.Route, n.RecordInbound, n.RecordOutbound = spec.TrunkID, spec.Route, spec.RecordInbound, spec.RecordOutbound
	n.BlockCallerID, n.BillingGroup, n.MOHClassID = spec.BlockCallerID, spec.BillingGroup, spec.MOHClassID
	return nil
}
