package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// LiveCall is a call in progress.
type LiveCall struct {
	ID         string             `json:"id" example:"call_8d2kx0c4m1q7w9za"`
	SIPCallID  string             `json:"sip_call_id"`
	Direction  string             `json:"direction" enum:"internal,inbound,outbound"`
	State      string             `json:"state" enum:"routing,ringing,answered,ended"`
	FromNumber string             `json:"from_number"`
	FromName   string             `json:"from_name"`
	ToNumber   string             `json:"to_number"`
	StartedAt  time.Time          `json:"started_at"`
	AnsweredAt *time.Time         `json:"answered_at,omitempty"`
	Legs       []call.LegSnapshot `json:"legs"`
}

func toLiveCall(s call.Snapshot) LiveCall {
	legs := s.Legs
	if legs == nil {
		legs = []call.LegSnapshot{}
	}
	return LiveCall{ID: string(s.ID), SIPCallID: s.SIPCallID, Direction: string(s.Direction), State: s.State.String(),
		FromNumber: s.FromNumber, FromName: s.FromName, ToNumber: s.ToNumber, StartedAt: s.StartedAt,
		AnsweredAt: s.AnsweredAt, Legs: legs}
}

// callVisible reports whether the key may see a call: members only their own.
func (s *server) callVisible(ctx context.Context, c call.Snapshot) bool {
	num, ok := s.memberNumber(ctx)
	return !ok || c.FromNumber == num || c.ToNumber == num
}

// memberNumber is the extension number of a member key (ok false for admins).
func (s *server) memberNumber(ctx context.Context) (string, bool) {
	k := principal(ctx)
	if k == nil || k.Role != core.RoleMember {
		return "", false
	}
	e, err := s.Extensions.Repo.GetExtension(ctx, k.ExtensionID)
	if err != nil {
		return "\x00", true // matches nothing
	}
	return e.Number, true
}

type liveCallList struct {
	Body struct {
		Items []LiveCall `json:"items"`
	}
}

func registerCalls(a huma.API, s *server) {
	tags := []string{"Calls"}
	huma.Register(a, huma.Operation{
		OperationID: "list-calls",
		Method:      http.MethodGet,
		Path:        "/v1/calls",
		Summary:     "List live calls",
		Description: "Calls in progress with their legs, codecs and media counters. A member key sees only its own calls.",
		Tags:        tags,
	}, func(ctx context.Context, _ *struct{}) (*liveCallList, error) {
		out := &liveCallList{}
		out.Body.Items = []LiveCall{}
		list := s.Calls.Calls()
		sort.Slice(list, func(i, j int) bool { return list[i].StartedAt.Before(list[j].StartedAt) })
		for _, c := range list {
			if s.callVisible(ctx, c) {
				out.Body.Items = append(out.Body.Items, toLiveCall(c))
			}
		}
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-call",
		Method:      http.MethodGet,
		Path:        "/v1/calls/{id}",
		Summary:     "Get a live call",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Call id."`
	}) (*struct{ Body LiveCall }, error) {
		c, ok := s.Calls.Call(call.ID(in.ID))
		if !ok || !s.callVisible(ctx, c) {
			return nil, huma.Error404NotFound("no live call " + in.ID)
		}
		return &struct{ Body LiveCall }{Body: toLiveCall(c)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID:   "hangup-call",
		Method:        http.MethodPost,
		Path:          "/v1/calls/{id}/hangup",
		Summary:       "Hang up a live call",
		Description:   "Ends the call on every leg; the call record says it was hung up by the system (api_hangup).",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Call id."`
	}) (*struct{}, error) {
		c, ok := s.Calls.Call(call.ID(in.ID))
		if !ok || !s.callVisible(ctx, c) {
			return nil, huma.Error404NotFound("no live call " + in.ID)
		}
		if err := s.Calls.Hangup(ctx, call.ID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
