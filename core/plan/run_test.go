package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/coretest"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

// mustPlan builds a plan from the JSON of its graph.
func mustPlan(t *testing.T, graph string) *plan.Plan {
	t.Helper()
	p := &plan.Plan{ID: "cpl_0000000000000000", Name: "test", Language: "fr"}
	dec := json.NewDecoder(strings.NewReader(graph))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.Graph); err != nil {
		t.Fatalf("graph: %v", err)
	}
	return p
}

type fakeSchedules map[string]string

func (f fakeSchedules) StateAt(_ context.Context, id string, _ time.Time) (string, error) {
	s, ok := f[id]
	if !ok {
		return "", core.ErrNotFound
	}
	return s, nil
}

type fakeDirectory []plan.DirectoryEntry

func (f fakeDirectory) Entries(context.Context) ([]plan.DirectoryEntry, error) { return f, nil }

type fakeExtensions map[string]core.ExtensionID

func (f fakeExtensions) ExtensionByNumber(_ context.Context, number string) (core.ExtensionID, bool, error) {
	id, ok := f[number]
	return id, ok, nil
}

const mainMenu = `{"entry": "main", "nodes": {
	"main": {"kind": "menu", "prompts": ["pmt_welcome"], "options": {"1": "sales", "2": "support"}, "direct_dial_length": 3},
	"sales": {"kind": "transfer", "target": {"type": "extension", "extension_id": "ext_sales"}},
	"support": {"kind": "transfer", "target": {"type": "external_number", "number": "+14155550100"}}
}}`

func ext(id core.ExtensionID) *routing.Target {
	return &routing.Target{Kind: routing.KindExtension, ExtensionID: id}
}

func prompts(p ...call.Prompt) []call.Prompt { return p }

func TestRun(t *testing.T) {
	directory := fakeDirectory{
		{ExtensionID: "ext_smith", Number: "201", Name: "Anna Smith", NamePrompt: "pmt_smith"},
		{ExtensionID: "ext_smithson", Number: "202", Name: "Bob Smithson"},
		{ExtensionID: "ext_jones", Number: "203", Name: "Carl Jones", NamePrompt: "pmt_jones"},
		{ExtensionID: "ext_lopez", Number: "204", Name: "Zoé Mary López"},
	}
	byName := func(field string) string {
		return `{"entry": "dbn", "nodes": {
			"dbn": {"kind": "dial_by_name", "field": "` + field + `", "next_no_match": "bye"},
			"bye": {"kind": "hangup", "prompts": ["goodbye"]}}}`
	}
	tests := []struct {
		name       string
		graph      string
		script     []coretest.Input
		callerName string
		want       plan.Result // Steps compared by Branch only
		branches   []string
		played     []call.Prompt
		noAnswer   bool
	}{
		{
			name: "menu happy path", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("1")},
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_sales")},
			branches: []string{"option:1", "extension"},
			played:   prompts("pmt_welcome"),
		},
		{
			name: "barge-in during the greeting", graph: mainMenu,
			script: []coretest.Input{coretest.PressDuringPlay("2")},
			want: plan.Result{End: plan.EndTransferred,
				Target: &routing.Target{Kind: routing.KindExternalNumber, Number: "+14155550100"}},
			branches: []string{"option:2", "external_number"},
			played:   prompts("pmt_welcome"),
		},
		{
			name: "invalid digit then valid", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("9"), coretest.Silence(), coretest.Press("1")},
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_sales")},
			branches: []string{"option:1", "extension"},
			played:   prompts("pmt_welcome", "invalid-option", "pmt_welcome"),
		},
		{
			name: "timeout then retry", graph: mainMenu,
			script:   []coretest.Input{coretest.Silence(), coretest.Press("2")},
			want:     plan.Result{End: plan.EndTransferred, Target: &routing.Target{Kind: routing.KindExternalNumber, Number: "+14155550100"}},
			branches: []string{"option:2", "external_number"},
			played:   prompts("pmt_welcome", "pmt_welcome"),
		},
		{
			name: "invalid retries exhausted: default goodbye", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("7"), coretest.Silence(), coretest.Press("8"), coretest.Silence(), coretest.Press("*")},
			want:     plan.Result{End: plan.EndInvalidInput},
			branches: []string{"goodbye"},
			played:   prompts("pmt_welcome", "invalid-option", "pmt_welcome", "invalid-option", "pmt_welcome", "invalid-option", "goodbye"),
		},
		{
			name:     "silent caller: timeout prompts, then the fallback",
			graph:    `{"entry": "m", "nodes": {"m": {"kind": "menu", "prompts": ["pmt_m"], "options": {"1": "op"}, "retries": 2, "timeout_prompts": ["pmt_still_there"], "fallback": "op"}, "op": {"kind": "transfer", "target": {"type": "extension", "extension_id": "ext_op"}}}}`,
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_op")},
			branches: []string{"fallback", "extension"},
			played:   prompts("pmt_m", "pmt_still_there", "pmt_m"),
		},
		{
			name:     "silent caller with the default fallback",
			graph:    `{"entry": "m", "nodes": {"m": {"kind": "menu", "prompts": ["pmt_m"], "options": {"1": "m"}, "retries": 1}}}`,
			want:     plan.Result{End: plan.EndNoInput},
			branches: []string{"goodbye"},
			played:   prompts("pmt_m", "goodbye"),
		},
		{
			name: "direct dial to an extension", graph: mainMenu,
			script:   []coretest.Input{coretest.PressDuringPlay("2"), coretest.Press("04")},
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_lopez")},
			branches: []string{"direct_dial:204"},
			played:   prompts("pmt_welcome"),
		},
		{
			name: "direct dial to a non-existent extension is invalid", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("299"), coretest.Press("1")},
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_sales")},
			branches: []string{"option:1", "extension"},
			played:   prompts("pmt_welcome", "invalid-option", "pmt_welcome"),
		},
		{
			name: "direct dial: a lone digit is an option", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("1"), coretest.Silence()},
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_sales")},
			branches: []string{"option:1", "extension"},
			played:   prompts("pmt_welcome"),
		},
		{
			name:     "schedule open",
			graph:    schedulePlan("sch_open"),
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_day")},
			branches: []string{"open", "extension"},
			noAnswer: true,
		},
		{
			name:     "schedule closed",
			graph:    schedulePlan("sch_closed"),
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"closed", "next", "hangup"},
			played:   prompts("pmt_closed", "goodbye"),
		},
		{
			name:     "schedule holiday",
			graph:    schedulePlan("sch_holiday"),
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"holiday", "hangup"},
			played:   prompts("pmt_holiday"),
		},
		{
			name:     "schedule holiday defaults to closed",
			graph:    strings.Replace(schedulePlan("sch_holiday"), `, "holiday": "hol"`, "", 1),
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"holiday", "next", "hangup"},
			played:   prompts("pmt_closed", "goodbye"),
		},
		{
			name: "dial by name: single match with a recorded name", graph: byName("last_name"),
			script:   []coretest.Input{coretest.Press("566"), coretest.Silence(), coretest.Press("1")}, // J-O-N
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_jones")},
			branches: []string{"connect:ext_jones"},
			played:   prompts("enter-name", "pmt_jones", "press-1-to-connect"),
		},
		{
			name: "dial by name: two matches, the second chosen, number read as digits", graph: byName("last_name"),
			script:   []coretest.Input{coretest.Press("764#"), coretest.Press("2"), coretest.Press("1")}, // S-M-I: Smith, Smithson
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_smithson")},
			branches: []string{"connect:ext_smithson"},
			played:   prompts("enter-name", "pmt_smith", "press-1-to-connect", "digit-2", "digit-0", "digit-2", "press-1-to-connect"),
		},
		{
			name: "dial by name: first name with accents", graph: byName("first_name"),
			script:   []coretest.Input{coretest.Press("963#"), coretest.Press("1")}, // Z-O-E Mary
			want:     plan.Result{End: plan.EndTransferred, Target: ext("ext_lopez")},
			branches: []string{"connect:ext_lopez"},
			played:   prompts("enter-name", "digit-2", "digit-0", "digit-4", "press-1-to-connect"),
		},
		{
			name: "dial by name: no match", graph: byName("last_name"),
			script:   []coretest.Input{coretest.Press("999#")},
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"no_match", "hangup"},
			played:   prompts("enter-name", "no-match", "goodbye"),
		},
		{
			name: "dial by name: nobody chosen", graph: byName("last_name"),
			script:   []coretest.Input{coretest.Press("764#"), coretest.Press("9"), coretest.Silence()},
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"no_match", "hangup"},
			played:   prompts("enter-name", "pmt_smith", "press-1-to-connect", "digit-2", "digit-0", "digit-2", "press-1-to-connect", "no-match", "goodbye"),
		},
		{
			name: "dial by name: too few letters", graph: byName("last_name"),
			script:   []coretest.Input{coretest.Press("76#")},
			want:     plan.Result{End: plan.EndHangup},
			branches: []string{"no_match", "hangup"},
			played:   prompts("enter-name", "no-match", "goodbye"),
		},
		{
			name:       "set caller name prefix then transfer to a plan",
			graph:      callerNamePlan("prefix", "Sales: "),
			callerName: "Alice",
			want:       plan.Result{End: plan.EndTransferred, CallerName: "Sales: Alice", Target: &routing.Target{Kind: routing.KindCallPlan, CallPlanID: "cpl_next"}},
			branches:   []string{"next", "call_plan"},
			noAnswer:   true,
		},
		{
			name:       "set caller name replace",
			graph:      callerNamePlan("replace", "Support line"),
			callerName: "Alice",
			want:       plan.Result{End: plan.EndTransferred, CallerName: "Support line", Target: &routing.Target{Kind: routing.KindCallPlan, CallPlanID: "cpl_next"}},
			branches:   []string{"next", "call_plan"},
			noAnswer:   true,
		},
		{
			name: "caller hangs up mid-prompt", graph: mainMenu,
			script:   []coretest.Input{coretest.HangUpDuringPlay()},
			want:     plan.Result{End: plan.EndCallerHungUp},
			branches: []string{plan.EndCallerHungUp},
			played:   prompts("pmt_welcome"),
		},
		{
			name: "caller hangs up while keying", graph: mainMenu,
			script:   []coretest.Input{coretest.Press("2"), coretest.HangUp()},
			want:     plan.Result{End: plan.EndCallerHungUp},
			branches: []string{plan.EndCallerHungUp},
			played:   prompts("pmt_welcome"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, tt.graph)
			ch := coretest.NewChannel(tt.script...)
			var observed []plan.Step
			now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			env := plan.Env{
				Schedules: fakeSchedules{"sch_open": "open", "sch_closed": "closed", "sch_holiday": "holiday"},
				Directory: directory, Extensions: fakeExtensions{"201": "ext_smith", "204": "ext_lopez"},
				Now: func() time.Time { return now }, CallerName: tt.callerName,
				Observer: func(s plan.Step) { observed = append(observed, s) },
			}
			res, err := plan.Run(context.Background(), ch, p, env)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.End != tt.want.End {
				t.Errorf("end %q, want %q", res.End, tt.want.End)
			}
			if (res.Target == nil) != (tt.want.Target == nil) || res.Target != nil && *res.Target != *tt.want.Target {
				t.Errorf("target %+v, want %+v", res.Target, tt.want.Target)
			}
			wantName := tt.want.CallerName
			if wantName == "" {
				wantName = tt.callerName
			}
			if res.CallerName != wantName {
				t.Errorf("caller name %q, want %q", res.CallerName, wantName)
			}
			var branches []string
			for _, s := range res.Steps {
				branches = append(branches, s.Branch)
				if s.PlanID != p.ID || !s.At.Equal(now) || p.Nodes[s.Node] == nil || p.Nodes[s.Node].Kind != s.Kind {
					t.Errorf("step %+v does not describe its node", s)
				}
			}
			if !slices.Equal(branches[len(branches)-len(tt.branches):], tt.branches) {
				t.Errorf("branches %q, want them to end with %q", branches, tt.branches)
			}
			if !slices.Equal(observed, res.Steps) {
				t.Errorf("observer saw %+v, result holds %+v", observed, res.Steps)
			}
			if got := ch.Played(); !slices.Equal(got, tt.played) {
				t.Errorf("played %q, want %q", got, tt.played)
			}
			ops := ch.Ops()
			if tt.noAnswer != !ch.Answered() {
				t.Errorf("answered %v", ch.Answered())
			}
			if ch.Answered() && ops[0].Kind != "answer" {
				t.Errorf("first operation %q, want answer before any play", ops[0].Kind)
			}
			for _, op := range ops {
				if op.Kind == "play" && op.PlayOptions.Language != "fr" {
					t.Errorf("played in %q, want the plan's language", op.PlayOptions.Language)
				}
			}
			// A run that ends the call hangs up with a cause that says why.
			wantCause := map[string]string{plan.EndHangup: call.CausePlanHangup, plan.EndInvalidInput: call.CauseInvalidInput,
				plan.EndNoInput: call.CauseNoInput, plan.EndStepLimit: call.CausePlanLoop}[res.End]
			if got := ch.HangupCause(); got != wantCause {
				t.Errorf("hung up with %q at end %q, want %q", got, res.End, wantCause)
			}
		})
	}
}

func schedulePlan(id string) string {
	return `{"entry": "hours", "nodes": {
		"hours": {"kind": "schedule", "schedule_id": "` + id + `", "open": "day", "closed": "closed", "holiday": "hol"},
		"day": {"kind": "transfer", "target": {"type": "extension", "extension_id": "ext_day"}},
		"closed": {"kind": "play", "prompts": ["pmt_closed"], "next": "bye"},
		"hol": {"kind": "hangup", "prompts": ["pmt_holiday"]},
		"bye": {"kind": "hangup", "prompts": ["goodbye"]}}}`
}

func callerNamePlan(mode, value string) string {
	return `{"entry": "tag", "nodes": {
		"tag": {"kind": "set_caller_name", "mode": "` + mode + `", "value": "` + value + `", "next": "go"},
		"go": {"kind": "transfer", "target": {"type": "call_plan", "call_plan_id": "cpl_next"}}}}`
}

// TestRunMenuTimings checks what the menu asks of the channel: interruptible
// greeting, the node's timeout for the first key, 3 s between the keys of a
// directly dialled number.
func TestRunMenuTimings(t *testing.T) {
	p := mustPlan(t, strings.Replace(mainMenu, `"direct_dial_length": 3`, `"direct_dial_length": 3, "timeout_seconds": 8`, 1))
	ch := coretest.NewChannel(coretest.Press("204"))
	_, err := plan.Run(context.Background(), ch, p, plan.Env{Extensions: fakeExtensions{"204": "ext_lopez"}})
	if err != nil {
		t.Fatal(err)
	}
	var collects []call.CollectSpec
	for _, op := range ch.Ops() {
		switch op.Kind {
		case "play":
			if !op.PlayOptions.Interrupt {
				t.Errorf("menu greeting not interruptible")
			}
		case "collect":
			collects = append(collects, op.Spec)
		}
	}
	want := []call.CollectSpec{
		{Max: 1, FirstDigit: 8 * time.Second, InterDigit: plan.InterDigit},
		{Max: 2, FirstDigit: plan.InterDigit, InterDigit: plan.InterDigit},
	}
	if !slices.Equal(collects, want) {
		t.Fatalf("collects %+v, want %+v", collects, want)
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("schedule lookup fails", func(t *testing.T) {
		p := mustPlan(t, schedulePlan("sch_gone"))
		_, err := plan.Run(context.Background(), coretest.NewChannel(), p, plan.Env{Schedules: fakeSchedules{}})
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("run context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := plan.Run(ctx, coretest.NewChannel(), mustPlan(t, mainMenu), plan.Env{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a menu looping onto itself stops at the step limit", func(t *testing.T) {
		p := mustPlan(t, `{"entry": "m", "nodes": {"m": {"kind": "menu", "prompts": ["pmt_m"], "options": {"1": "m"}}}}`)
		script := make([]coretest.Input, plan.MaxSteps+5)
		for i := range script {
			script[i] = coretest.Press("1")
		}
		ch := coretest.NewChannel(script...)
		res, err := plan.Run(context.Background(), ch, p, plan.Env{})
		if err != nil || res.End != plan.EndStepLimit || len(res.Steps) != plan.MaxSteps || ch.HangupCause() == "" {
			t.Fatalf("end %q after %d steps, err %v", res.End, len(res.Steps), err)
		}
	})
}

func TestKeypadDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Smith", "76484"},
		{"O'Brien", "627436"},
		{"Zoé", "963"},
		{"Müller-Lüdenscheidt", "685537583367243438"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := plan.KeypadDigits(tt.in); got != tt.want {
			t.Errorf("KeypadDigits(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
