package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// OutboundRoute sends matching dialled numbers out through trunks.
type OutboundRoute struct {
	ID        string    `json:"id" example:"obr_2k9x0m4c8v1z7q3d"`
	Name      string    `json:"name"`
	Patterns  []string  `json:"patterns" example:"[\"9|NXXNXXXXXX\",\"1NXXNXXXXXX\"]" doc:"X 0-9, Z 1-9, N 2-9, [1-5] a class, . one or more (last); prefix| is matched and stripped."`
	Prepend   string    `json:"prepend"`
	TrunkIDs  []string  `json:"trunk_ids" nullable:"false" doc:"Tried in this order: the next on 408, 5xx or no answer from the trunk; never on 486, 600, 603, 404 or 484."`
	CallerID  string    `json:"caller_id"`
	Enabled   bool      `json:"enabled"`
	Position  int       `json:"position" doc:"Routes are tried by ascending position."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OutboundRouteCreate is the body of create: name, patterns and trunk_ids are required.
type OutboundRouteCreate struct {
	Name     *string  `json:"name,omitempty" maxLength:"100"`
	Patterns []string `json:"patterns,omitempty" nullable:"false" maxItems:"100" example:"[\"9|NXXNXXXXXX\"]"`
	Prepend  *string  `json:"prepend,omitempty" maxLength:"16"`
	TrunkIDs []string `json:"trunk_ids,omitempty" nullable:"false" maxItems:"10"`
	CallerID *string  `json:"caller_id,omitempty" doc:"E.164 presented when the extension has no outbound_caller_id."`
	Enabled  *bool    `json:"enabled,omitempty" doc:"Default true."`
	Position *int     `json:"position,omitempty" minimum:"1" doc:"Default last."`
}

// OutboundRoutePatch is the body of update, a merge patch: fields left out keep their value.
type OutboundRoutePatch struct {
	Name     *string  `json:"name,omitempty" maxLength:"100"`
	Patterns []string `json:"patterns,omitempty" maxItems:"100"`
	Prepend  *string  `json:"prepend,omitempty" maxLength:"16"`
	TrunkIDs []string `json:"trunk_ids,omitempty" maxItems:"10"`
	CallerID *string  `json:"caller_id,omitempty" doc:"E.164 presented when the extension has no outbound_caller_id."`
	Enabled  *bool    `json:"enabled,omitempty"`
	Position *int     `json:"position,omitempty" minimum:"1"`
}

func (in *OutboundRoutePatch) apply(r *core.OutboundRoute) {
	if in.Name != nil {
		r.Name = *in.Name
	}
	if in.Patterns != nil {
		r.Patterns = in.Patterns
	}
	if in.Prepend != nil {
		r.Prepend = *in.Prepend
	}
	if in.TrunkIDs != nil {
		r.TrunkIDs = r.TrunkIDs[:0]
		for _, t := range in.TrunkIDs {
			r.TrunkIDs = append(r.TrunkIDs, core.TrunkID(t))
		}
	}
	if in.CallerID != nil {
		r.CallerID = *in.CallerID
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	if in.Position != nil {
		r.Position = *in.Position
	}
}

func toOutboundRoute(r *core.OutboundRoute) OutboundRoute {
	ids := make([]string, len(r.TrunkIDs))
	for i, t := range r.TrunkIDs {
		ids[i] = string(t)
	}
	return OutboundRoute{ID: string(r.ID), Name: r.Name, Patterns: r.Patterns, Prepend: r.Prepend, TrunkIDs: ids,
		CallerID: r.CallerID, Enabled: r.Enabled, Position: r.Position, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type outboundOutput struct {
	ETag string `header:"ETag"`
	Body OutboundRoute
}

type outboundCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     OutboundRoute
}

type outboundList struct {
	Body struct {
		Items []OutboundRoute `json:"items" nullable:"false"`
	}
}

// OutboundRouteIDParam is the {id} path parameter of outbound route routes.
type OutboundRouteIDParam struct {
	ID string `path:"id" doc:"Outbound route id."`
}

func registerOutboundRoutes(a huma.API, s *server) {
	tags := []string{"Outbound routes"}
	huma.Register(a, huma.Operation{
		OperationID: "create-outbound-route", Method: http.MethodPost, Path: "/v1/outbound-routes", Summary: "Create an outbound route",
		Description: "Without position the route goes last. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body OutboundRouteCreate
	}) (*outboundCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		r := &core.OutboundRoute{ID: core.OutboundRouteID(core.NewID(core.PrefixOutboundRoute)), Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		body := OutboundRoutePatch(in.Body)
		body.apply(r)
		if err := r.Validate(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.OutboundRoutes.CreateOutboundRoute(ctx, r); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &outboundCreated{ETag: etag(r.Version), Location: "/v1/outbound-routes/" + string(r.ID), Body: toOutboundRoute(r)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-outbound-routes", Method: http.MethodGet, Path: "/v1/outbound-routes", Summary: "List outbound routes in order",
		Description: "Every outbound route by ascending position, the order they are tried in. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, _ *struct{}) (*outboundList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		list, err := s.OutboundRoutes.ListOutboundRoutes(ctx)
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &outboundList{}
		out.Body.Items = make([]OutboundRoute, 0, len(list))
		for _, r := range list {
			out.Body.Items = append(out.Body.Items, toOutboundRoute(r))
		}
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-outbound-route", Method: http.MethodGet, Path: "/v1/outbound-routes/{id}", Summary: "Get an outbound route",
		Description: "One outbound route, with its ETag for a later If-Match. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *OutboundRouteIDParam) (*outboundOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		r, err := s.OutboundRoutes.GetOutboundRoute(ctx, core.OutboundRouteID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &outboundOutput{ETag: etag(r.Version), Body: toOutboundRoute(r)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-outbound-route", Method: http.MethodPatch, Path: "/v1/outbound-routes/{id}", Summary: "Change an outbound route",
		Description: "Merges the given fields over the route (If-Match honoured). Takes effect on the next call. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		OutboundRouteIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the route changed since."`
		Body    OutboundRoutePatch
	}) (*outboundOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		r, err := s.OutboundRoutes.GetOutboundRoute(ctx, core.OutboundRouteID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, r.Version) {
			return nil, huma.Error412PreconditionFailed("the route changed since the ETag in If-Match was read")
		}
		in.Body.apply(r)
		if err := r.Validate(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		r.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.OutboundRoutes.UpdateOutboundRoute(ctx, r, r.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &outboundOutput{ETag: etag(r.Version), Body: toOutboundRoute(r)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-outbound-route", Method: http.MethodDelete, Path: "/v1/outbound-routes/{id}", Summary: "Delete an outbound route",
		Description: "Deletes the route; calls no longer try it. Admin keys only.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *OutboundRouteIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.OutboundRoutes.DeleteOutboundRoute(ctx, core.OutboundRouteID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
