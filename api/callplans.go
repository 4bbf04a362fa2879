package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/media/audio/system"
)

// CallPlanRepo stores call plans and answers whether what they name exists.
type CallPlanRepo interface {
	plan.Repo
	// CallPlanRefExists: kind is "prompt", "schedule", "extension" or "call_plan".
	CallPlanRefExists(ctx context.Context, kind, id string) (bool, error)
}

// CallPlan is a call plan (IVR, auto attendant) as the API shows it.
type CallPlan struct {
	ID       string                `json:"id" example:"cpl_0m3k9x2c8v1z4q7d"`
	Name     string                `json:"name"`
	Language string                `json:"language" doc:"BCP 47 tag choosing the recordings of prompts."`
	Entry    string                `json:"entry" doc:"The node a call starts at."`
	Nodes    map[string]*plan.Node `json:"nodes"`
	// Warnings are answered by writes only.
	Warnings  []plan.Warning `json:"warnings,omitempty" doc:"Writes only: nodes no call can reach, and the like; the plan is stored anyway."`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

const callPlanNodesDoc = "Node name ([a-z0-9_-]{1,40}, at most 200 nodes) -> node. Kinds: menu {prompts, options {key: node}, " +
	"timeout_seconds, retries, invalid_prompts, timeout_prompts, fallback, direct_dial_length}; play {prompts, next}; " +
	"schedule {schedule_id, open, closed, holiday}; dial_by_name {field, min_letters, prompts, next_no_match}; " +
	"set_caller_name {mode, value, next}; transfer {target}; hangup {prompts}. A cycle must pass through a menu or dial_by_name node."

// CallPlanInput is the body of create and replace; update takes it as a
// JSON merge patch.
type CallPlanInput struct {
	Name     *string               `json:"name,omitempty" maxLength:"100"`
	Language *string               `json:"language,omitempty" maxLength:"35" doc:"BCP 47 tag choosing the recordings of prompts. Default en."`
	Entry    *string               `json:"entry,omitempty" maxLength:"40" doc:"The node a call starts at."`
	Nodes    map[string]*plan.Node `json:"nodes,omitempty" doc:"Node name ([a-z0-9_-]{1,40}, at most 200 nodes) -> node."`
}

func (in *CallPlanInput) apply(p *plan.Plan) {
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Language != nil {
		p.Language = *in.Language
	}
	if in.Entry != nil {
		p.Entry = *in.Entry
	}
	if in.Nodes != nil {
		p.Nodes = in.Nodes
	}
}

func toCallPlan(p *plan.Plan, warnings []plan.Warning) CallPlan {
	nodes := p.Nodes
	if nodes == nil {
		nodes = map[string]*plan.Node{}
	}
	return CallPlan{ID: string(p.ID), Name: p.Name, Language: p.Language, Entry: p.Entry, Nodes: nodes,
		Warnings: warnings, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// systemPromptExists reports whether name is one of the prompts that ship
// with the PBX.
func systemPromptExists(name string) bool { return system.Has(name) }

// planRefs checks what a plan names against the store.
type planRefs struct{ repo CallPlanRepo }

var _ plan.Refs = planRefs{}

// promptIDPrefix marks stored prompts; anything else is a system prompt name.
const promptIDPrefix = "pmt_"

func (r planRefs) PromptExists(ctx context.Context, p call.Prompt) (bool, error) {
	if strings.HasPrefix(string(p), promptIDPrefix) {
		return r.repo.CallPlanRefExists(ctx, "prompt", string(p))
	}
	return systemPromptExists(string(p)), nil
}

func (r planRefs) ScheduleExists(ctx context.Context, id string) (bool, error) {
	return r.repo.CallPlanRefExists(ctx, "schedule", id)
}

func (r planRefs) ExtensionExists(ctx context.Context, id core.ExtensionID) (bool, error) {
	return r.repo.CallPlanRefExists(ctx, "extension", string(id))
}

func (r planRefs) CallPlanExists(ctx context.Context, id plan.ID) (bool, error) {
	return r.repo.CallPlanRefExists(ctx, "call_plan", string(id))
}

// checkPlan fills defaults and validates p with everything it names.
func (s *server) checkPlan(ctx context.Context, p *plan.Plan) ([]plan.Warning, error) {
	p.Normalize()
	w, err := p.Validate(ctx, planRefs{s.CallPlans})
	if err != nil {
		return nil, s.problem(ctx, err, "body")
	}
	return w, nil
}

type callPlanOutput struct {
	ETag string `header:"ETag"`
	Body CallPlan
}

type callPlanCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     CallPlan
}

type callPlanList struct {
	Body struct {
		Items      []CallPlan `json:"items" nullable:"false"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

// CallPlanIDParam is the {id} path parameter of call plan routes.
type CallPlanIDParam struct {
	ID string `path:"id" doc:"Call plan id."`
}

// CallPlanIfMatch is the If-Match header of call plan writes.
type CallPlanIfMatch struct {
	IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the write is refused with 412 if the plan changed since."`
}

// expectVersion is the version a write with If-Match must find: the current
// one, after checking the header against it.
func expectVersion(header string, current int64) (int64, error) {
	if !ifMatch(header, current) {
		return 0, huma.Error412PreconditionFailed("the call plan changed since the ETag in If-Match was read")
	}
	return current, nil
}

func registerCallPlans(a huma.API, s *server) {
	tags := []string{"Call plans"}
	huma.Register(a, huma.Operation{
		OperationID: "create-call-plan", Method: http.MethodPost, Path: "/v1/call-plans", Summary: "Create a call plan",
		Description: "A call plan (IVR, auto attendant) is a graph of nodes entered at entry. " + callPlanNodesDoc +
			" Unreachable nodes are accepted and listed in warnings. Admin keys only. " + idempotencyHeaderDoc,
		Tags: tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body CallPlanInput
	}) (*callPlanCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		p := &plan.Plan{ID: plan.ID(core.NewID(plan.Prefix)), Version: 1, CreatedAt: now, UpdatedAt: now}
		in.Body.apply(p)
		warnings, err := s.checkPlan(ctx, p)
		if err != nil {
			return nil, err
		}
		if err := s.CallPlans.CreateCallPlan(ctx, p); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &callPlanCreated{ETag: etag(p.Version), Location: "/v1/call-plans/" + string(p.ID), Body: toCallPlan(p, warnings)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-call-plans", Method: http.MethodGet, Path: "/v1/call-plans", Summary: "List call plans",
		Description: "Call plans by name, keyset-paginated. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, in *ListParams) (*callPlanList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.CallPlans.ListCallPlans(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &callPlanList{}
		out.Body.Items = make([]CallPlan, 0, len(page.Items))
		for _, p := range page.Items {
			out.Body.Items = append(out.Body.Items, toCallPlan(p, nil))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-call-plan", Method: http.MethodGet, Path: "/v1/call-plans/{id}", Summary: "Get a call plan",
		Description: "One call plan with its ETag for a later If-Match. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *CallPlanIDParam) (*callPlanOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		p, err := s.CallPlans.GetCallPlan(ctx, plan.ID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &callPlanOutput{ETag: etag(p.Version), Body: toCallPlan(p, nil)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "replace-call-plan", Method: http.MethodPut, Path: "/v1/call-plans/{id}", Summary: "Replace a call plan",
		Description: "Replaces name, language, entry and nodes (If-Match honoured). Takes effect on the next call. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		CallPlanIDParam
		CallPlanIfMatch
		Body CallPlanInput
	}) (*callPlanOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		return s.writeCallPlan(ctx, in.ID, in.IfMatch, func(p *plan.Plan) error {
			p.Name, p.Language, p.Entry, p.Nodes = "", "", "", nil
			in.Body.apply(p)
			return nil
		})
	})
	op := huma.Operation{
		OperationID: "update-call-plan", Method: http.MethodPatch, Path: "/v1/call-plans/{id}", Summary: "Change a call plan",
		Description: "Applies a JSON merge patch (RFC 7396) to name, language, entry and nodes: a node given is merged into the " +
			"node of that name, `null` removes a node or a node's field. If-Match honoured. Takes effect on the next call. Admin keys only.",
		Tags: tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}
	huma.Register(a, op, func(ctx context.Context, in *struct {
		CallPlanIDParam
		CallPlanIfMatch
		RawBody []byte `contentType:"application/merge-patch+json"`
	}) (*callPlanOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		patch, err := decodeMergePatch(in.RawBody, reflect.TypeFor[CallPlanInput]())
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return s.writeCallPlan(ctx, in.ID, in.IfMatch, func(p *plan.Plan) error {
			return mergeIntoPlan(p, patch)
		})
	})
	// The body is read raw (to see nulls); document it with the input schema.
	if p := a.OpenAPI().Paths["/v1/call-plans/{id}"]; p != nil && p.Patch != nil {
		schema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[CallPlanInput](), true, "CallPlanInput")
		p.Patch.RequestBody.Content = map[string]*huma.MediaType{
			"application/merge-patch+json": {Schema: schema},
			"application/json":             {Schema: schema},
		}
	}
	huma.Register(a, huma.Operation{
		OperationID: "delete-call-plan", Method: http.MethodDelete, Path: "/v1/call-plans/{id}", Summary: "Delete a call plan",
		Description: "Refused with 409, naming them, while numbers, extensions or other call plans route calls to the plan. Admin keys only.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}, func(ctx context.Context, in *struct {
		CallPlanIDParam
		CallPlanIfMatch
	}) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if strings.TrimSpace(in.IfMatch) != "" {
			p, err := s.CallPlans.GetCallPlan(ctx, plan.ID(in.ID))
			if err != nil {
				return nil, s.problem(ctx, err, "path")
			}
			if _, err := expectVersion(in.IfMatch, p.Version); err != nil {
				return nil, err
			}
		}
		if err := s.CallPlans.DeleteCallPlan(ctx, plan.ID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}

// writeCallPlan loads a plan, checks If-Match, lets change edit it,
// validates and stores it.
func (s *server) writeCallPlan(ctx context.Context, id, ifMatchHeader string, change func(*plan.Plan) error) (*callPlanOutput, error) {
	p, err := s.CallPlans.GetCallPlan(ctx, plan.ID(id))
	if err != nil {
		return nil, s.problem(ctx, err, "path")
	}
	expect, err := expectVersion(ifMatchHeader, p.Version)
	if err != nil {
		return nil, err
	}
	if err := change(p); err != nil {
		return nil, s.problem(ctx, err, "body")
	}
	warnings, err := s.checkPlan(ctx, p)
	if err != nil {
		return nil, err
	}
	p.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if err := s.CallPlans.UpdateCallPlan(ctx, p, expect); err != nil {
		return nil, s.problem(ctx, err, "body")
	}
	return &callPlanOutput{ETag: etag(p.Version), Body: toCallPlan(p, warnings)}, nil
}

// decodeMergePatch reads a JSON merge patch (RFC 7396) whose keys, at any
// depth, must be fields of t.
func decodeMergePatch(raw []byte, t reflect.Type) (map[string]any, error) {
	var patch map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&patch); err != nil || patch == nil {
		return nil, core.ValidationError{{Field: "", Message: "must be a JSON object (a merge patch)"}}
	}
	if err := checkKeys(raw, t); err != nil {
		return nil, err
	}
	return patch, nil
}

// mergeIntoPlan applies a merge patch to the plan's JSON form and decodes
// the result back, strictly.
func mergeIntoPlan(p *plan.Plan, patch map[string]any) error {
	cur := CallPlanInput{Name: &p.Name, Language: &p.Language, Entry: &p.Entry, Nodes: p.Nodes}
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return err
	}
	var in CallPlanInput
	if err := decodeStrict(merged, &in); err != nil {
		var ve core.ValidationError
		if errors.As(err, &ve) {
			return ve
		}
		return jsonFieldError(err)
	}
	p.Name, p.Language, p.Entry, p.Nodes = "", "", "", nil
	in.apply(p)
	return nil
}

// mergePatch is RFC 7396 §2 MergePatch: objects merge key by key, null
// removes a key, anything else replaces the target.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}
