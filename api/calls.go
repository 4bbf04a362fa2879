package api

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
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
	Legs       []call.LegSnapshot `json:"legs" nullable:"false"`
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

// callFilter returns which calls the key may see: members only their own,
// judged as the live calls list judges them (call.LiveQuery). The member's
// number is read once, not per call.
func (s *server) callFilter(ctx context.Context) func(call.Snapshot) bool {
	num, member := s.memberNumber(ctx)
	q := call.LiveQuery{ByNumber: member, Number: num}
	return func(c call.Snapshot) bool { return q.Takes(call.SnapshotHead(c)) }
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

// liveCallListBody is the body of the live calls list.
type liveCallListBody struct {
	Items      []LiveCall `json:"items" nullable:"false"`
	NextCursor string     `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
}

// liveCallsPage is the page p of the live calls from or to num (all of
// them when not member), oldest first (by start, then ID), with the cursor
// of the next page.
func (s *server) liveCallsPage(num string, member bool, p core.PageRequest) (core.Page[call.Snapshot], error) {
	q := call.LiveQuery{ByNumber: member, Number: num, Limit: p.Size() + 1}
	if p.Cursor != "" {
		var afterID string
		if err := core.DecodeCursor(p.Cursor, &q.AfterAt, &afterID); err != nil {
			return core.Page[call.Snapshot]{}, err
		}
		if afterID == "" {
			return core.Page[call.Snapshot]{}, core.ValidationError{{Field: "cursor", Message: "is not a cursor this list produced"}}
		}
		q.AfterID = call.ID(afterID)
	}
	items, next := core.TrimPage(s.Calls.Calls(q), p.Size(), func(c call.Snapshot) []any { return []any{c.StartedAt.UnixNano(), string(c.ID)} })
	return core.Page[call.Snapshot]{Items: items, NextCursor: next}, nil
}

// liveCallsJSON is a page of the live calls list as the API sends it (see
// liveCallsPage): only those the key may see, times at microsecond precision
// in UTC (as the microsecondTimes transformer would make them), JSON with a
// final newline as huma writes it. The buffer may come from bodyBufs:
// putBodyBuf it once written.
func (s *server) liveCallsJSON(num string, member bool, p core.PageRequest) ([]byte, error) {
	page, err := s.liveCallsPage(num, member, p)
	if err != nil {
		return nil, err
	}
	b, ok := appendLiveCallList(getBodyBuf(), &page)
	if !ok {
		// A value encoding/json refuses: let it say so.
		putBodyBuf(b)
		body := liveCallListBody{Items: make([]LiveCall, 0, len(page.Items)), NextCursor: page.NextCursor}
		for _, c := range page.Items {
			body.Items = append(body.Items, toLiveCall(c))
		}
		return jsonMarshal(body)
	}
	return append(b, '\n'), nil
}

func registerCalls(a huma.API, s *server) {
	tags := []string{"Calls"}
	listSchema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[liveCallListBody](), true, "LiveCallListBody")
	huma.Register(a, huma.Operation{
		OperationID: "list-calls",
		Method:      http.MethodGet,
		Path:        "/v1/calls",
		Summary:     "List live calls",
		Description: "Calls in progress with their legs, codecs and media counters, oldest first, a page at a time. A member key sees only its own calls.",
		Tags:        tags,
		Responses: map[string]*huma.Response{
			"200": {Description: "OK", Content: map[string]*huma.MediaType{"application/json": {Schema: listSchema}}},
		},
	}, func(ctx context.Context, in *ListParams) (*huma.StreamResponse, error) {
		// Keys that see the same calls share the page (coalesce.go).
		num, member := s.memberNumber(ctx)
		p := in.page()
		key := "calls\x00" + strconv.Itoa(p.Limit) + "\x00" + strconv.Quote(p.Cursor)
		if member {
			key += "\x00" + strconv.Quote(num)
		}
		b, release, err := s.reads.do(ctx, key, func(ctx context.Context) ([]byte, error) {
			b, err := s.liveCallsJSON(num, member, p)
			if err != nil {
				return nil, s.problem(ctx, err, "query")
			}
			return b, nil
		})
		if err != nil {
			return nil, err
		}
		return jsonStream(b, release), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-call",
		Method:      http.MethodGet,
		Path:        "/v1/calls/{id}",
		Summary:     "Get a live call",
		Description: "One call in progress with its legs. A member key sees only its own calls (404 for others).",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Call id."`
	}) (*struct{ Body LiveCall }, error) {
		c, ok := s.Calls.Call(call.ID(in.ID))
		if !ok || !s.callFilter(ctx)(c) {
			return nil, huma.Error404NotFound("no live call " + in.ID)
		}
		return &struct{ Body LiveCall }{Body: toLiveCall(c)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID:   "hangup-call",
		Method:        http.MethodPost,
		Path:          "/v1/calls/{id}/hangup",
		Summary:       "Hang up a live call",
		Description:   "Ends the call on every leg; the call record says it was hung up by the system (api_hangup). " + idempotencyHeaderDoc,
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Call id."`
		IdempotencyParam
	}) (*struct{}, error) {
		c, ok := s.Calls.Call(call.ID(in.ID))
		if !ok || !s.callFilter(ctx)(c) {
			return nil, huma.Error404NotFound("no live call " + in.ID)
		}
		if err := s.Calls.Hangup(ctx, call.ID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}

// CallRequest is the body of a click-to-call.
type CallRequest struct {
	From       string `json:"from" minLength:"1" maxLength:"64" doc:"The extension that rings first: its number or id."`
	To         string `json:"to" minLength:"1" maxLength:"32" doc:"The extension number dialled once from answers."`
	AutoAnswer bool   `json:"auto_answer,omitempty" doc:"Ask from's phone to answer by itself (intercom headers)."`
}

// CallPlaced is the answer to a click-to-call.
type CallPlaced struct {
	ID    string `json:"id"`
	State string `json:"state" enum:"ringing"`
}

func registerCallControl(a huma.API, s *server) {
	tags := []string{"Calls"}
	huma.Register(a, huma.Operation{
		OperationID: "create-call", Method: http.MethodPost, Path: "/v1/calls",
		Summary: "Click-to-call",
		Description: "Rings from; when from answers, dials to and connects them. Answers at once with the call id; " +
			"progress arrives as call.* events. A member key may only call from its own extension. " + idempotencyHeaderDoc,
		Tags: tags, DefaultStatus: http.StatusAccepted,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body CallRequest
	}) (*struct {
		Location string `header:"Location"`
		Body     CallPlaced
	}, error) {
		from := in.Body.From
		if core.HasPrefix(from, core.PrefixExtension) {
			e, err := s.Extensions.Repo.GetExtension(ctx, core.ExtensionID(from))
			if err != nil {
				return nil, s.problem(ctx, core.ValidationError{{Field: "from", Message: "names no extension", Value: from}}, "body")
			}
			from = e.Number
		}
		if num, member := s.memberNumber(ctx); member && num != from {
			return nil, huma.Error403Forbidden("a member key may only place calls from its own extension")
		}
		id, err := s.Calls.Originate(ctx, call.Originate{From: from, To: in.Body.To, AutoAnswer: in.Body.AutoAnswer})
		switch {
		case errors.Is(err, core.ErrNotFound):
			return nil, s.problem(ctx, core.ValidationError{{Field: "from", Message: "names no extension", Value: in.Body.From}}, "body")
		case errors.Is(err, core.ErrNoRoute):
			return nil, s.problem(ctx, core.ValidationError{{Field: "to", Message: err.Error(), Value: in.Body.To}}, "body")
		case errors.Is(err, core.ErrUnavailable):
			return nil, huma.Error409Conflict(err.Error())
		case err != nil:
			return nil, s.problem(ctx, err, "body")
		}
		out := &struct {
			Location string `header:"Location"`
			Body     CallPlaced
		}{Location: "/v1/calls/" + string(id), Body: CallPlaced{ID: string(id), State: "ringing"}}
		return out, nil
	})

	control := func(op, summary, doc string, run func(ctx context.Context, id call.ID, body *callControlBody) error) {
		huma.Register(a, huma.Operation{
			OperationID: op + "-call", Method: http.MethodPost, Path: "/v1/calls/{id}/" + op,
			Summary: summary, Description: doc + " " + idempotencyHeaderDoc, Tags: tags, DefaultStatus: http.StatusAccepted,
			Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
		}, func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Call id."`
			IdempotencyParam
			Body *callControlBody `required:"false"`
		}) (*struct{}, error) {
			c, ok := s.Calls.Call(call.ID(in.ID))
			if !ok || !s.callFilter(ctx)(c) {
				return nil, huma.Error404NotFound("no live call " + in.ID)
			}
			body := in.Body
			if body == nil {
				body = &callControlBody{}
			}
			if body.Party == "" {
				body.Party = "callee"
			}
			if err := run(ctx, call.ID(in.ID), body); err != nil {
				if errors.Is(err, core.ErrNoRoute) {
					return nil, s.problem(ctx, core.ValidationError{{Field: "to", Message: err.Error(), Value: body.To}}, "body")
				}
				if errors.Is(err, core.ErrUnavailable) {
					return nil, huma.Error409Conflict(err.Error())
				}
				return nil, s.problem(ctx, err, "body")
			}
			return nil, nil
		})
	}
	control("hold", "Hold a call", "Puts both parties on hold: each phone is asked to stop sending (a re-INVITE with sendonly).",
		func(ctx context.Context, id call.ID, _ *callControlBody) error { return s.Calls.Hold(ctx, id, true) })
	control("resume", "Resume a held call", "Takes both parties off hold.",
		func(ctx context.Context, id call.ID, _ *callControlBody) error { return s.Calls.Hold(ctx, id, false) })
	control("dtmf", "Send DTMF digits", "Plays digits (0-9, *, #, A-D; at most 32) to the party as RFC 4733 events.",
		func(ctx context.Context, id call.ID, b *callControlBody) error {
			if b.Digits == "" || len(b.Digits) > 32 || strings.Trim(strings.ToUpper(b.Digits), "0123456789*#ABCD") != "" {
				return core.ValidationError{{Field: "digits", Message: "must be 1 to 32 of 0-9 * # A-D", Value: b.Digits}}
			}
			return s.Calls.SendDTMF(ctx, id, b.Party, b.Digits)
		})
	control("transfer", "Blind transfer", "Connects the other party to `to` instead of `party`, which is released once `to` answers. If `to` does not answer, the call goes on.",
		func(ctx context.Context, id call.ID, b *callControlBody) error {
			if b.To == "" {
				return core.ValidationError{{Field: "to", Message: "is required"}}
			}
			return s.Calls.Transfer(ctx, id, b.Party, b.To)
		})
}

type callControlBody struct {
	Party  string `json:"party,omitempty" enum:"caller,callee" doc:"For dtmf: who hears the digits. For transfer: who is released. Default callee."`
	Digits string `json:"digits,omitempty" maxLength:"32" doc:"dtmf: the digits."`
	To     string `json:"to,omitempty" maxLength:"32" doc:"transfer: the extension number to connect instead."`
}
