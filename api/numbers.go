package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// Number is a phone number (DID) and where its calls go.
type Number struct {
	ID             string     `json:"id" example:"num_4x8k1m0c9v2z7q3d"`
	Number         string     `json:"number" example:"+14155550100" doc:"E.164."`
	Name           string     `json:"name"`
	CallerIDName   string     `json:"caller_id_name"`
	Kind           string     `json:"kind" enum:"local,toll_free,mobile,national"`
	Direction      string     `json:"direction" enum:"bidirectional,inbound_only"`
	TrunkID        string     `json:"trunk_id,omitempty"`
	Route          core.Route `json:"route"`
	RecordInbound  bool       `json:"record_inbound"`
	RecordOutbound bool       `json:"record_outbound"`
	BlockCallerID  bool       `json:"block_caller_id"`
	BillingGroup   string     `json:"billing_group"`
	MOHClassID     string     `json:"moh_class_id,omitempty" doc:"The music-on-hold class callers to this number hear when held; the default class when empty."`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// NumberCreate is the body of create: number and route are required.
type NumberCreate struct {
	Number         *string     `json:"number,omitempty" maxLength:"32" example:"+14155550100" doc:"E.164, or national in the home country; stored as E.164."`
	Name           *string     `json:"name,omitempty" maxLength:"100"`
	CallerIDName   *string     `json:"caller_id_name,omitempty" maxLength:"100"`
	Kind           *string     `json:"kind,omitempty" enum:"local,toll_free,mobile,national" doc:"Derived from the number when omitted."`
	Direction      *string     `json:"direction,omitempty" enum:"bidirectional,inbound_only" doc:"Default bidirectional."`
	TrunkID        *string     `json:"trunk_id,omitempty"`
	Route          *core.Route `json:"route,omitempty" doc:"{\"type\":\"extension\",\"extension_id\":...}, {\"type\":\"external_number\",\"number\":...} (sent out through the first outbound route matching the E.164 number, such as +.), {\"type\":\"call_plan\",\"call_plan_id\":...} (the PBX answers and runs the plan) or {\"type\":\"reject\"}."`
	RecordInbound  *bool       `json:"record_inbound,omitempty"`
	RecordOutbound *bool       `json:"record_outbound,omitempty"`
	BlockCallerID  *bool       `json:"block_caller_id,omitempty"`
	BillingGroup   *string     `json:"billing_group,omitempty" maxLength:"100"`
	MOHClassID     *string     `json:"moh_class_id,omitempty" doc:"The music-on-hold class callers to this number hear when held (\"\" for the default class)."`
}

// NumberPatch is the body of update, a merge patch: fields left out keep their value.
type NumberPatch struct {
	Number         *string     `json:"number,omitempty" maxLength:"32" doc:"E.164, or national in the home country; stored as E.164."`
	Name           *string     `json:"name,omitempty" maxLength:"100"`
	CallerIDName   *string     `json:"caller_id_name,omitempty" maxLength:"100"`
	Kind           *string     `json:"kind,omitempty" enum:"local,toll_free,mobile,national" doc:"Derived from the number when omitted."`
	Direction      *string     `json:"direction,omitempty" enum:"bidirectional,inbound_only"`
	TrunkID        *string     `json:"trunk_id,omitempty"`
	Route          *core.Route `json:"route,omitempty" doc:"{\"type\":\"extension\",\"extension_id\":...}, {\"type\":\"external_number\",\"number\":...} (sent out through the first outbound route matching the E.164 number, such as +.), {\"type\":\"call_plan\",\"call_plan_id\":...} (the PBX answers and runs the plan) or {\"type\":\"reject\"}."`
	RecordInbound  *bool       `json:"record_inbound,omitempty"`
	RecordOutbound *bool       `json:"record_outbound,omitempty"`
	BlockCallerID  *bool       `json:"block_caller_id,omitempty"`
	BillingGroup   *string     `json:"billing_group,omitempty" maxLength:"100"`
	MOHClassID     *string     `json:"moh_class_id,omitempty" doc:"The music-on-hold class callers to this number hear when held (\"\" for the default class)."`
}

func (in *NumberPatch) spec(n *core.PhoneNumber) core.NumberSpec {
	sp := core.NumberSpec{Number: n.Number, Name: n.Name, CallerIDName: n.CallerIDName, Kind: n.Kind, Direction: n.Direction,
		TrunkID: n.TrunkID, Route: n.Route, RecordInbound: n.RecordInbound, RecordOutbound: n.RecordOutbound,
		BlockCallerID: n.BlockCallerID, BillingGroup: n.BillingGroup, MOHClassID: n.MOHClassID}
	str := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	boolean := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	str(&sp.Number, in.Number)
	str(&sp.Name, in.Name)
	str(&sp.CallerIDName, in.CallerIDName)
	str(&sp.Direction, in.Direction)
	str(&sp.BillingGroup, in.BillingGroup)
	str(&sp.MOHClassID, in.MOHClassID)
	if in.Number != nil && in.Kind == nil {
		sp.Kind = "" // derive again for the new number
	}
	if in.Kind != nil {
		sp.Kind = core.NumberKind(*in.Kind)
	}
	if in.TrunkID != nil {
		sp.TrunkID = core.TrunkID(*in.TrunkID)
	}
	if in.Route != nil {
		sp.Route = *in.Route
	}
	boolean(&sp.RecordInbound, in.RecordInbound)
	boolean(&sp.RecordOutbound, in.RecordOutbound)
	boolean(&sp.BlockCallerID, in.BlockCallerID)
	return sp
}

func toNumber(n *core.PhoneNumber) Number {
	return Number{ID: string(n.ID), Number: n.Number, Name: n.Name, CallerIDName: n.CallerIDName, Kind: string(n.Kind),
		Direction: n.Direction, TrunkID: string(n.TrunkID), Route: n.Route, RecordInbound: n.RecordInbound,
		RecordOutbound: n.RecordOutbound, BlockCallerID: n.BlockCallerID, BillingGroup: n.BillingGroup, MOHClassID: n.MOHClassID,
		CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
}

type numberOutput struct {
	ETag string `header:"ETag"`
	Body Number
}

type numberCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Number
}

type numberList struct {
	Body struct {
		Items      []Number `json:"items" nullable:"false"`
		NextCursor string   `json:"next_cursor,omitempty"`
	}
}

// NumberIDParam is the {id} path parameter of number routes.
type NumberIDParam struct {
	ID string `path:"id" doc:"Number id."`
}

func registerNumbers(a huma.API, s *server) {
	tags := []string{"Numbers"}
	huma.Register(a, huma.Operation{
		OperationID: "create-number", Method: http.MethodPost, Path: "/v1/numbers", Summary: "Add a phone number",
		Description: "The number is normalised to E.164 (national forms read in the home country) and classified when kind is omitted. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body NumberCreate
	}) (*numberCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		n := &core.PhoneNumber{ID: core.NumberID(core.NewID(core.PrefixNumber)), Version: 1, CreatedAt: now, UpdatedAt: now}
		body := NumberPatch(in.Body)
		if err := body.spec(n).Apply(n, s.Country); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.Numbers.CreateNumber(ctx, n); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &numberCreated{ETag: etag(n.Version), Location: "/v1/numbers/" + string(n.ID), Body: toNumber(n)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-numbers", Method: http.MethodGet, Path: "/v1/numbers", Summary: "List phone numbers",
		Description: "Phone numbers, keyset-paginated. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, in *ListParams) (*numberList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.Numbers.ListNumbers(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &numberList{}
		out.Body.Items = make([]Number, 0, len(page.Items))
		for _, n := range page.Items {
			out.Body.Items = append(out.Body.Items, toNumber(n))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-number", Method: http.MethodGet, Path: "/v1/numbers/{id}", Summary: "Get a phone number",
		Description: "One phone number with its route, and its ETag for a later If-Match. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *NumberIDParam) (*numberOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		n, err := s.Numbers.GetNumber(ctx, core.NumberID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &numberOutput{ETag: etag(n.Version), Body: toNumber(n)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-number", Method: http.MethodPatch, Path: "/v1/numbers/{id}", Summary: "Change a phone number",
		Description: "Merges the given fields over the number (If-Match honoured). Takes effect on the next call.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		NumberIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the number changed since."`
		Body    NumberPatch
	}) (*numberOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		n, err := s.Numbers.GetNumber(ctx, core.NumberID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, n.Version) {
			return nil, huma.Error412PreconditionFailed("the number changed since the ETag in If-Match was read")
		}
		if err := in.Body.spec(n).Apply(n, s.Country); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		n.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.Numbers.UpdateNumber(ctx, n, n.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &numberOutput{ETag: etag(n.Version), Body: toNumber(n)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-number", Method: http.MethodDelete, Path: "/v1/numbers/{id}", Summary: "Remove a phone number",
		Description: "Deletes the number; calls to it are no longer accepted. Admin keys only.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *NumberIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Numbers.DeleteNumber(ctx, core.NumberID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
