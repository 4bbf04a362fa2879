package plan_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
)

type fakeRefs struct {
	prompts    []call.Prompt
	schedules  []string
	extensions []core.ExtensionID
	plans      []plan.ID
	fail       error
}

func (f fakeRefs) PromptExists(_ context.Context, p call.Prompt) (bool, error) {
	return slices.Contains(f.prompts, p), f.fail
}
func (f fakeRefs) ScheduleExists(_ context.Context, id string) (bool, error) {
	return slices.Contains(f.schedules, id), f.fail
}
func (f fakeRefs) ExtensionExists(_ context.Context, id core.ExtensionID) (bool, error) {
	return slices.Contains(f.extensions, id), f.fail
}
func (f fakeRefs) CallPlanExists(_ context.Context, id plan.ID) (bool, error) {
	return slices.Contains(f.plans, id), f.fail
}

var refs = fakeRefs{
	prompts:    []call.Prompt{"pmt_welcome", "goodbye", "invalid-option", "pmt_closed"},
	schedules:  []string{"sch_hours"},
	extensions: []core.ExtensionID{"ext_sales"},
	plans:      []plan.ID{"cpl_other"},
}

const validGraph = `{"entry": "hours", "nodes": {
	"hours": {"kind": "schedule", "schedule_id": "sch_hours", "open": "main", "closed": "closed"},
	"main": {"kind": "menu", "prompts": ["pmt_welcome"], "options": {"1": "sales", "2": "other", "0": "dbn", "9": "main"}, "fallback": "bye"},
	"sales": {"kind": "transfer", "target": {"type": "extension", "extension_id": "ext_sales"}},
	"other": {"kind": "transfer", "target": {"type": "call_plan", "call_plan_id": "cpl_other"}},
	"dbn": {"kind": "dial_by_name", "next_no_match": "main"},
	"closed": {"kind": "play", "prompts": ["pmt_closed"], "next": "tag"},
	"tag": {"kind": "set_caller_name", "mode": "prefix", "value": "After hours: ", "next": "out"},
	"out": {"kind": "transfer", "target": {"type": "external_number", "number": "+14155550100"}},
	"bye": {"kind": "hangup", "prompts": ["goodbye"]}
}}`

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(p *plan.Plan)
		fields []string // expected error fields; none: valid
	}{
		{"valid", func(*plan.Plan) {}, nil},
		{"name required", func(p *plan.Plan) { p.Name = " " }, []string{"name"}},
		{"bad language", func(p *plan.Plan) { p.Language = "not a tag" }, []string{"language"}},
		{"entry missing", func(p *plan.Plan) { p.Entry = "" }, []string{"entry"}},
		{"entry unknown", func(p *plan.Plan) { p.Entry = "nope" }, []string{"entry"}},
		{"unknown option target", func(p *plan.Plan) { p.Nodes["main"].Options["2"] = "nope" }, []string{"nodes.main.options.2"}},
		{"bad option key", func(p *plan.Plan) { p.Nodes["main"].Options["10"] = "sales" }, []string{"nodes.main.options.10"}},
		{"unknown fallback", func(p *plan.Plan) { p.Nodes["main"].Fallback = "nope" }, []string{"nodes.main.fallback"}},
		{"unknown next", func(p *plan.Plan) { p.Nodes["closed"].Next = "nope" }, []string{"nodes.closed.next"}},
		{"unknown prompt", func(p *plan.Plan) { p.Nodes["main"].Prompts = []call.Prompt{"pmt_welcome", "pmt_gone"} }, []string{"nodes.main.prompts[1]"}},
		{"unknown invalid prompt", func(p *plan.Plan) { p.Nodes["main"].InvalidPrompts = []call.Prompt{"nope"} }, []string{"nodes.main.invalid_prompts[0]"}},
		{"menu without prompts", func(p *plan.Plan) { p.Nodes["main"].Prompts = nil }, []string{"nodes.main.prompts"}},
		{"menu without options", func(p *plan.Plan) { p.Nodes["main"].Options = nil }, []string{"nodes.main.options"}},
		{"menu direct dial only", func(p *plan.Plan) { p.Nodes["main"].Options = nil; p.Nodes["main"].DirectDialLength = 4 }, nil},
		{"direct dial length", func(p *plan.Plan) { p.Nodes["main"].DirectDialLength = 7 }, []string{"nodes.main.direct_dial_length"}},
		{"timeout", func(p *plan.Plan) { p.Nodes["main"].TimeoutSeconds = 61 }, []string{"nodes.main.timeout_seconds"}},
		{"retries", func(p *plan.Plan) { p.Nodes["main"].Retries = -1 }, []string{"nodes.main.retries"}},
		{"unknown schedule", func(p *plan.Plan) { p.Nodes["hours"].ScheduleID = "sch_gone" }, []string{"nodes.hours.schedule_id"}},
		{"schedule branch required", func(p *plan.Plan) { p.Nodes["hours"].Closed = "" }, []string{"nodes.hours.closed"}},
		{"unknown kind", func(p *plan.Plan) { p.Nodes["bye"].Kind = "voicemail" }, []string{"nodes.bye.kind"}},
		{"field of another kind", func(p *plan.Plan) { p.Nodes["closed"].Options = map[string]string{"1": "main"} }, []string{"nodes.closed.options"}},
		{"unknown extension", func(p *plan.Plan) { p.Nodes["sales"].Target.ExtensionID = "ext_gone" }, []string{"nodes.sales.target.extension_id"}},
		{"unknown call plan", func(p *plan.Plan) { p.Nodes["other"].Target.CallPlanID = "cpl_gone" }, []string{"nodes.other.target.call_plan_id"}},
		{"bad external number", func(p *plan.Plan) { p.Nodes["out"].Target.Number = "4155550100" }, []string{"nodes.out.target.number"}},
		{"stray target field", func(p *plan.Plan) { p.Nodes["out"].Target.ExtensionID = "ext_sales" }, []string{"nodes.out.target.extension_id"}},
		{"target required", func(p *plan.Plan) { p.Nodes["out"].Target = nil }, []string{"nodes.out.target"}},
		{"bad target type", func(p *plan.Plan) { p.Nodes["out"].Target.Kind = "queue" }, []string{"nodes.out.target.type"}},
		{"caller name mode", func(p *plan.Plan) { p.Nodes["tag"].Mode = "append" }, []string{"nodes.tag.mode"}},
		{"caller name with a line break", func(p *plan.Plan) { p.Nodes["tag"].Value = "a\r\nb" }, []string{"nodes.tag.value"}},
		{"dial by name field", func(p *plan.Plan) { p.Nodes["dbn"].Field = "email" }, []string{"nodes.dbn.field"}},
		{"dial by name next required", func(p *plan.Plan) { p.Nodes["dbn"].NextNoMatch = "" }, []string{"nodes.dbn.next_no_match"}},
		{"bad node name", func(p *plan.Plan) { p.Nodes["Bad Name"] = &plan.Node{Kind: plan.KindHangup} }, []string{"nodes.Bad Name"}},
		{"play cycle refused", func(p *plan.Plan) {
			p.Nodes["closed"].Next = "again"
			p.Nodes["again"] = &plan.Node{Kind: plan.KindPlay, Prompts: []call.Prompt{"goodbye"}, Next: "closed"}
		}, []string{"nodes.again.next"}},
		{"schedule and caller name cycle refused", func(p *plan.Plan) { p.Nodes["tag"].Next = "hours" }, []string{"nodes.tag.next"}},
		{"menu cycle allowed", func(p *plan.Plan) {
			p.Nodes["tag"].Next = "main"
			p.Nodes["bye"].Kind = plan.KindPlay
			p.Nodes["bye"].Next = "main"
		}, nil},
		{"transfer to itself from the entry refused", func(p *plan.Plan) {
			p.Nodes["out"].Target.Kind = "call_plan"
			p.Nodes["out"].Target.Number = ""
			p.Nodes["out"].Target.CallPlanID = string(p.ID)
		}, []string{"nodes.out.target.call_plan_id"}},
		{"transfer to itself after a menu allowed", func(p *plan.Plan) { p.Nodes["other"].Target.CallPlanID = string(p.ID) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, validGraph)
			tt.edit(p)
			_, err := p.Validate(context.Background(), refs)
			var got []string
			var ve core.ValidationError
			if errors.As(err, &ve) {
				for _, f := range ve {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatalf("not a validation error: %v", err)
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %q, want %q (%v)", got, tt.fields, err)
			}
			if err != nil && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
		})
	}
}

func TestValidateWarnsUnreachable(t *testing.T) {
	p := mustPlan(t, validGraph)
	p.Nodes["orphan"] = &plan.Node{Kind: plan.KindHangup}
	p.Nodes["orphan2"] = &plan.Node{Kind: plan.KindPlay, Prompts: []call.Prompt{"goodbye"}, Next: "orphan"}
	warnings, err := p.Validate(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.Warning{
		{Field: "nodes.orphan", Message: "no path from the entry reaches this node"},
		{Field: "nodes.orphan2", Message: "no path from the entry reaches this node"},
	}
	if !slices.Equal(warnings, want) {
		t.Fatalf("warnings %+v", warnings)
	}
}

func TestValidateLimitsAndLookupFailures(t *testing.T) {
	p := mustPlan(t, validGraph)
	for i := range plan.MaxNodes {
		p.Nodes[fmt.Sprintf("n%d", i)] = &plan.Node{Kind: plan.KindHangup}
	}
	_, err := p.Validate(context.Background(), refs)
	if err == nil || !strings.Contains(err.Error(), "nodes: has more than 200 nodes") {
		t.Fatalf("too many nodes: %v", err)
	}
	boom := errors.New("database is gone")
	broken := refs
	broken.fail = boom
	if _, err := mustPlan(t, validGraph).Validate(context.Background(), broken); !errors.Is(err, boom) || errors.Is(err, core.ErrInvalid) {
		t.Fatalf("lookup failure: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	p := &plan.Plan{Graph: plan.Graph{Nodes: map[string]*plan.Node{
		"m": {Kind: plan.KindMenu},
		"d": {Kind: plan.KindDialByName},
		"t": {Kind: plan.KindMenu, TimeoutSeconds: 9, Retries: 1},
	}}}
	p.Normalize()
	if p.Language != "en" || p.Nodes["m"].TimeoutSeconds != 5 || p.Nodes["m"].Retries != 3 ||
		p.Nodes["d"].Field != "last_name" || p.Nodes["d"].MinLetters != 3 || p.Nodes["t"].TimeoutSeconds != 9 || p.Nodes["t"].Retries != 1 {
		t.Fatalf("normalized %+v %+v %+v", p, p.Nodes["m"], p.Nodes["d"])
	}
}
