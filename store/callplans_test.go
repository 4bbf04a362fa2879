package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

func newPlan(name string, nodes map[string]*plan.Node) *plan.Plan {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &plan.Plan{ID: plan.ID(core.NewID(plan.Prefix)), Name: name, Language: "en",
		Graph: plan.Graph{Entry: "main", Nodes: nodes}, Version: 1, CreatedAt: now, UpdatedAt: now}
}

func menuTo(target routing.Target) map[string]*plan.Node {
	return map[string]*plan.Node{
		"main": {Kind: plan.KindMenu, Prompts: []call.Prompt{"pmt_welcome"}, Options: map[string]string{"1": "go"},
			TimeoutSeconds: 5, Retries: 3},
		"go": {Kind: plan.KindTransfer, Target: &target},
	}
}

func TestCallPlanRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	a := newPlan("Main", menuTo(routing.Target{Kind: routing.KindExternalNumber, Number: "+14155550100"}))
	if err := db.CreateCallPlan(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetCallPlan(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip changed the plan:\n got %+v\nwant %+v", got, a)
	}
	if ok, err := db.CallPlanExists(ctx, a.ID); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if ok, _ := db.CallPlanExists(ctx, "cpl_nope"); ok {
		t.Fatal("an unknown plan exists")
	}

	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"duplicate name", func() error {
			return db.CreateCallPlan(ctx, newPlan("Main", menuTo(routing.Target{Kind: routing.KindReject})))
		}, core.ErrConflict, "name"},
		{"get unknown", func() error { _, err := db.GetCallPlan(ctx, "cpl_nope"); return err }, core.ErrNotFound, ""},
		{"update stale version", func() error { return db.UpdateCallPlan(ctx, a, 7) }, core.ErrPrecondition, ""},
		{"update unknown", func() error { return db.UpdateCallPlan(ctx, newPlan("x", nil), 1) }, core.ErrNotFound, ""},
		{"delete unknown", func() error { return db.DeleteCallPlan(ctx, "cpl_nope") }, core.ErrNotFound, ""},
		{"bad cursor", func() error { _, err := db.ListCallPlans(ctx, core.PageRequest{Cursor: "!!"}); return err }, core.ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			var ce *core.ConflictError
			if tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field) {
				t.Fatalf("want conflict on %s, got %v", tt.field, err)
			}
		})
	}

	a.Name = "Main line"
	a.Nodes["main"].Options["2"] = "go"
	if err := db.UpdateCallPlan(ctx, a, 1); err != nil || a.Version != 2 {
		t.Fatalf("update: %v, version %d", err, a.Version)
	}
	got, _ = db.GetCallPlan(ctx, a.ID)
	if got.Name != "Main line" || got.Nodes["main"].Options["2"] != "go" || got.Version != 2 {
		t.Fatalf("update not stored: %+v", got)
	}

	// Keyset pages by name.
	for i := range 5 {
		if err := db.CreateCallPlan(ctx, newPlan(fmt.Sprintf("p%d", i), menuTo(routing.Target{Kind: routing.KindReject}))); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	cursor := ""
	for range 10 {
		page, err := db.ListCallPlans(ctx, core.PageRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(names, ",") != "Main line,p0,p1,p2,p3,p4" {
		t.Fatalf("pages: %v", names)
	}
}

func TestCallPlanUsers(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	target := newPlan("Target", menuTo(routing.Target{Kind: routing.KindReject}))
	if err := db.CreateCallPlan(ctx, target); err != nil {
		t.Fatal(err)
	}
	caller := newPlan("Caller", menuTo(routing.Target{Kind: routing.KindCallPlan, CallPlanID: string(target.ID)}))
	// Only naming the id elsewhere (a caller name) is no use.
	mention := newPlan("Mention", map[string]*plan.Node{
		"main": {Kind: plan.KindSetCallerName, Mode: plan.ModeReplace, Value: string(target.ID), Next: "end"},
		"end":  {Kind: plan.KindHangup},
	})
	hours := newPlan("Hours", map[string]*plan.Node{
		"main":   {Kind: plan.KindSchedule, ScheduleID: "sch_0000000000000000", Open: "end", Closed: "closed"},
		"closed": {Kind: plan.KindMenu, Prompts: []call.Prompt{"goodbye"}, InvalidPrompts: []call.Prompt{"pmt_sorry"}, Options: map[string]string{"1": "end"}},
		"end":    {Kind: plan.KindHangup},
	})
	for _, p := range []*plan.Plan{caller, mention, hours} {
		if err := db.CreateCallPlan(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	users, err := db.CallPlanUsers(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.User{{Kind: "call_plan", ID: string(caller.ID), Name: "Caller"}}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users %+v, want %+v", users, want)
	}
	err = db.DeleteCallPlan(ctx, target.ID)
	var iu *core.InUseError
	if !errors.As(err, &iu) || !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "call plan Caller ("+string(caller.ID)+")") {
		t.Fatalf("delete in use: %v", err)
	}

	// A number routed to the plan, once numbers can name one.
	if ok, _ := columnExists(ctx, db.r, "numbers", "call_plan_id"); ok {
		if _, err := db.w.ExecContext(ctx, `INSERT INTO numbers (id, number, kind, direction, route_type, call_plan_id, created_at, updated_at)
			VALUES ('num_0000000000000000', '+14155550199', 'local', 'bidirectional', 'call_plan', ?, 0, 0)`, target.ID); err != nil {
			t.Fatal(err)
		}
		users, err = db.CallPlanUsers(ctx, target.ID)
		if err != nil || len(users) != 2 || users[0] != (plan.User{Kind: "number", ID: "num_0000000000000000", Name: "+14155550199"}) {
			t.Fatalf("users with a number: %+v, %v", users, err)
		}
		if err := db.DeleteCallPlan(ctx, target.ID); err == nil || !strings.Contains(err.Error(), "used by numbers and call plans") {
			t.Fatalf("delete in use by a number: %v", err)
		}
		if _, err := db.w.ExecContext(ctx, `DELETE FROM numbers`); err != nil {
			t.Fatal(err)
		}
	}

	for name, tt := range map[string]struct {
		got  func() ([]plan.User, error)
		want []string
	}{
		"prompt in a menu":            {func() ([]plan.User, error) { return db.PlansUsingPrompt(ctx, "pmt_welcome") }, []string{"Caller", "Target"}},
		"invalid prompt":              {func() ([]plan.User, error) { return db.PlansUsingPrompt(ctx, "pmt_sorry") }, []string{"Hours"}},
		"system prompt":               {func() ([]plan.User, error) { return db.PlansUsingPrompt(ctx, "goodbye") }, []string{"Hours"}},
		"unused prompt":               {func() ([]plan.User, error) { return db.PlansUsingPrompt(ctx, "pmt_other") }, nil},
		"schedule":                    {func() ([]plan.User, error) { return db.PlansUsingSchedule(ctx, "sch_0000000000000000") }, []string{"Hours"}},
		"schedule named nowhere else": {func() ([]plan.User, error) { return db.PlansUsingSchedule(ctx, "sch_1111111111111111") }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			users, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range users {
				names = append(names, u.Name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Fatalf("plans %v, want %v", names, tt.want)
			}
		})
	}

	if err := db.DeleteCallPlan(ctx, caller.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteCallPlan(ctx, target.ID); err != nil {
		t.Fatalf("delete once unused: %v", err)
	}
	if _, err := db.GetCallPlan(ctx, target.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted plan still there: %v", err)
	}
}

func TestCallPlanRefExists(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	e := newExt("1001")
	if err := db.CreateExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	p := newPlan("Main", menuTo(routing.Target{Kind: routing.KindReject}))
	if err := db.CreateCallPlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind, id string
		want     bool
	}{
		{"extension", string(e.ID), true},
		{"extension", "ext_0000000000000000", false},
		{"call_plan", string(p.ID), true},
		{"call_plan", "cpl_0000000000000000", false},
		{"prompt", "pmt_0000000000000000", false},
		{"schedule", "sch_0000000000000000", false},
	}
	for _, tt := range tests {
		got, err := db.CallPlanRefExists(ctx, tt.kind, tt.id)
		if err != nil || got != tt.want {
			t.Errorf("%s %s: %v, %v; want %v", tt.kind, tt.id, got, err, tt.want)
		}
	}
	if _, err := db.CallPlanRefExists(ctx, "trunk", "x"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
}
