package api_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/api"
)

func newCallPlanEnv(t *testing.T) *env {
	t.Helper()
	d, db, logs := fullDeps(t)
	d.CallPlans = db
	srv := httptest.NewServer(api.New(d))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: logs, db: db}
}

// mainPlan is a valid plan: a menu sending 1 to an extension and 2 to
// another plan (or to a number when other is "").
func mainPlan(name, extID, other string) map[string]any {
	two := map[string]any{"kind": "transfer", "target": map[string]any{"type": "external_number", "number": "+14155550100"}}
	if other != "" {
		two = map[string]any{"kind": "transfer", "target": map[string]any{"type": "call_plan", "call_plan_id": other}}
	}
	return map[string]any{
		"name":  name,
		"entry": "main",
		"nodes": map[string]any{
			"main":  map[string]any{"kind": "menu", "prompts": []string{"goodbye"}, "options": map[string]any{"1": "sales", "2": "two"}},
			"sales": map[string]any{"kind": "transfer", "target": map[string]any{"type": "extension", "extension_id": extID}},
			"two":   two,
		},
	}
}

func TestCallPlanCreate(t *testing.T) {
	e := newCallPlanEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	r := e.do("POST", "/v1/call-plans", adminKey, mainPlan("Main", ext, ""))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	body := r.json(t)
	id, _ := body["id"].(string)
	if !strings.HasPrefix(id, "cpl_") || r.header.Get("Location") != "/v1/call-plans/"+id || r.header.Get("ETag") != `"1"` {
		t.Fatalf("id %q, Location %q, ETag %q", id, r.header.Get("Location"), r.header.Get("ETag"))
	}
	menu := body["nodes"].(map[string]any)["main"].(map[string]any)
	if body["language"] != "en" || menu["timeout_seconds"] != 5.0 || menu["retries"] != 3.0 || body["warnings"] != nil {
		t.Fatalf("defaults not filled or warnings given: %s", r.body)
	}
	g := e.do("GET", "/v1/call-plans/"+id, adminKey, nil)
	if g.status != 200 || g.header.Get("ETag") != `"1"` || g.json(t)["nodes"].(map[string]any)["sales"].(map[string]any)["target"].(map[string]any)["extension_id"] != ext {
		t.Fatalf("get: %d %s", g.status, g.body)
	}

	// The same name again.
	if r := e.do("POST", "/v1/call-plans", adminKey, mainPlan("Main", ext, "")); r.status != 409 {
		t.Fatalf("duplicate name: %d %s", r.status, r.body)
	}

	// Unreachable nodes are stored and warned about.
	orphan := mainPlan("With orphans", ext, "")
	orphan["nodes"].(map[string]any)["lost"] = map[string]any{"kind": "hangup", "prompts": []string{"goodbye"}}
	r = e.do("POST", "/v1/call-plans", adminKey, orphan)
	if r.status != 201 {
		t.Fatalf("create with orphan: %d %s", r.status, r.body)
	}
	w, _ := r.json(t)["warnings"].([]any)
	if len(w) != 1 || w[0].(map[string]any)["field"] != "nodes.lost" {
		t.Fatalf("warnings %v", w)
	}

	// A plan transferring to another; list pages.
	r = e.do("POST", "/v1/call-plans", adminKey, mainPlan("Front desk", ext, id))
	if r.status != 201 {
		t.Fatalf("create referring plan: %d %s", r.status, r.body)
	}
	var names []string
	cursor := ""
	for range 5 {
		l := e.do("GET", "/v1/call-plans?limit=2&cursor="+cursor, adminKey, nil)
		if l.status != 200 {
			t.Fatalf("list: %d %s", l.status, l.body)
		}
		m := l.json(t)
		for _, it := range m["items"].([]any) {
			names = append(names, it.(map[string]any)["name"].(string))
		}
		cursor, _ = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if !slices.Equal(names, []string{"Front desk", "Main", "With orphans"}) {
		t.Fatalf("listed %v", names)
	}
}

func TestCallPlanValidation(t *testing.T) {
	e := newCallPlanEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	node := func(p map[string]any, name string) map[string]any {
		return p["nodes"].(map[string]any)[name].(map[string]any)
	}
	tests := []struct {
		name string
		edit func(p map[string]any)
		want string
	}{
		{"entry unknown", func(p map[string]any) { p["entry"] = "nope" }, "body.entry"},
		{"option to no node", func(p map[string]any) { node(p, "main")["options"].(map[string]any)["2"] = "nope" }, "body.nodes.main.options.2"},
		{"unknown system prompt", func(p map[string]any) { node(p, "main")["prompts"] = []string{"goodbye", "no-such-prompt"} }, "body.nodes.main.prompts[1]"},
		{"unknown stored prompt", func(p map[string]any) { node(p, "main")["prompts"] = []string{"pmt_0000000000000000"} }, "body.nodes.main.prompts[0]"},
		{"unknown extension", func(p map[string]any) {
			node(p, "sales")["target"] = map[string]any{"type": "extension", "extension_id": "ext_0000000000000000"}
		}, "body.nodes.sales.target.extension_id"},
		{"unknown plan", func(p map[string]any) {
			node(p, "two")["target"] = map[string]any{"type": "call_plan", "call_plan_id": "cpl_0000000000000000"}
		}, "body.nodes.two.target.call_plan_id"},
		{"bad number", func(p map[string]any) { node(p, "two")["target"].(map[string]any)["number"] = "555" }, "body.nodes.two.target.number"},
		{"unknown schedule", func(p map[string]any) {
			p["entry"] = "hours"
			p["nodes"].(map[string]any)["hours"] = map[string]any{"kind": "schedule", "schedule_id": "sch_0000000000000000", "open": "main", "closed": "main"}
		}, "body.nodes.hours.schedule_id"},
		{"play loop", func(p map[string]any) {
			p["entry"] = "a"
			p["nodes"].(map[string]any)["a"] = map[string]any{"kind": "play", "prompts": []string{"goodbye"}, "next": "b"}
			p["nodes"].(map[string]any)["b"] = map[string]any{"kind": "play", "prompts": []string{"goodbye"}, "next": "a"}
		}, "body.nodes.b.next"},
		{"field of another kind", func(p map[string]any) { node(p, "sales")["next"] = "main" }, "body.nodes.sales.next"},
		{"direct dial length", func(p map[string]any) { node(p, "main")["direct_dial_length"] = 9 }, "body.nodes.main.direct_dial_length"},
		{"bad node name", func(p map[string]any) { p["nodes"].(map[string]any)["Main Menu"] = map[string]any{"kind": "hangup"} }, "body.nodes.Main Menu"},
		{"name missing", func(p map[string]any) { delete(p, "name") }, "body.name"},
		{"unknown kind", func(p map[string]any) { node(p, "sales")["kind"] = "voicemail" }, "body.nodes.sales.kind"},
		{"unknown key", func(p map[string]any) { p["owner"] = "x" }, "body.owner"},
		{"case-variant key", func(p map[string]any) { p["Name"] = p["name"]; delete(p, "name") }, "body.Name"},
		{"case-variant node key", func(p map[string]any) { node(p, "main")["Prompts"] = []string{"goodbye"} }, "body.nodes.main.Prompts"},
		{"case-variant target key", func(p map[string]any) {
			node(p, "two")["target"] = map[string]any{"Type": "external_number", "number": "+14155550100"}
		}, "body.nodes.two.target.Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mainPlan("Plan", ext, "")
			tt.edit(p)
			r := e.do("POST", "/v1/call-plans", adminKey, p)
			locs := problemLocations(t, r)
			if !slices.Contains(locs, tt.want) {
				t.Fatalf("locations %v, want %s: %s", locs, tt.want, r.body)
			}
		})
	}
	if l := e.do("GET", "/v1/call-plans", adminKey, nil); !strings.Contains(string(l.body), `"items":[]`) {
		t.Fatalf("a refused plan was stored: %s", l.body)
	}
}

func TestCallPlanUpdateAndDelete(t *testing.T) {
	e := newCallPlanEnv(t)
	ext := e.createExtension("1001")["id"].(string)
	target := e.create("/v1/call-plans", mainPlan("Target", ext, ""))
	front := e.create("/v1/call-plans", mainPlan("Front", ext, target))

	// Deleting a plan another transfers to is refused, naming it.
	r := e.do("DELETE", "/v1/call-plans/"+target, adminKey, nil)
	if r.status != 409 || !strings.Contains(string(r.body), "Front") || !strings.Contains(string(r.body), front) {
		t.Fatalf("delete in use: %d %s", r.status, r.body)
	}

	// Merge patch: change a field of a node, add one, remove one, rename.
	patch := map[string]any{
		"name": "Front desk",
		"nodes": map[string]any{
			"main":  map[string]any{"options": map[string]any{"2": nil, "3": "bye"}, "timeout_seconds": 8},
			"two":   nil,
			"bye":   map[string]any{"kind": "hangup", "prompts": []string{"goodbye"}},
			"sales": map[string]any{"target": map[string]any{"extension_id": ext}},
		},
	}
	r = e.do("PATCH", "/v1/call-plans/"+front, adminKey, patch, "If-Match", `"1"`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	got := r.json(t)
	nodes := got["nodes"].(map[string]any)
	menu := nodes["main"].(map[string]any)
	opts := menu["options"].(map[string]any)
	if got["name"] != "Front desk" || nodes["two"] != nil || nodes["bye"] == nil || opts["2"] != nil || opts["3"] != "bye" ||
		opts["1"] != "sales" || menu["timeout_seconds"] != 8.0 || menu["prompts"].([]any)[0] != "goodbye" {
		t.Fatalf("patched plan: %s", r.body)
	}
	// The patch stored: the target plan is free now.
	if g := e.do("GET", "/v1/call-plans/"+front, adminKey, nil); !strings.Contains(string(g.body), `"Front desk"`) || strings.Contains(string(g.body), target) {
		t.Fatalf("stored: %s", g.body)
	}

	tests := []struct {
		name    string
		patch   any
		ifMatch string
		status  int
		loc     string
	}{
		{"stale If-Match", map[string]any{"name": "x"}, `"1"`, 412, ""},
		{"edge to a removed node", map[string]any{"nodes": map[string]any{"bye": nil}}, "", 422, "body.nodes.main.options.3"},
		{"entry removed", map[string]any{"entry": nil}, "", 422, "body.entry"},
		{"unknown key", map[string]any{"nodes": map[string]any{"main": map[string]any{"Options": map[string]any{}}}}, "", 422, "body.nodes.main.Options"},
		{"wrong type", map[string]any{"nodes": map[string]any{"main": map[string]any{"retries": "three"}}}, "", 422, ""},
		{"not an object", `[1]`, "", 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.ifMatch != "" {
				h = []string{"If-Match", tt.ifMatch}
			}
			r := e.do("PATCH", "/v1/call-plans/"+front, adminKey, tt.patch, h...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.loc != "" && !slices.Contains(problemLocations(t, r), tt.loc) {
				t.Fatalf("want %s: %s", tt.loc, r.body)
			}
		})
	}

	// PUT replaces the whole plan.
	r = e.do("PUT", "/v1/call-plans/"+front, adminKey, mainPlan("Front", ext, ""), "If-Match", `"2"`)
	if r.status != 200 || r.header.Get("ETag") != `"3"` || r.json(t)["nodes"].(map[string]any)["bye"] != nil {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/call-plans/"+front, adminKey, nil, "If-Match", `"2"`); r.status != 412 {
		t.Fatalf("delete with a stale If-Match: %d %s", r.status, r.body)
	}
	for _, id := range []string{target, front} {
		if r := e.do("DELETE", "/v1/call-plans/"+id, adminKey, nil); r.status != 204 {
			t.Fatalf("delete %s: %d %s", id, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/call-plans/"+front, adminKey, nil); r.status != 404 {
		t.Fatalf("get deleted: %d", r.status)
	}
}

func TestCallPlansAdminOnly(t *testing.T) {
	e := newCallPlanEnv(t)
	own := e.createExtension("1001")
	r := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "phone app", "role": "member", "extension_id": own["id"]})
	if r.status != 201 {
		t.Fatalf("create member key: %d %s", r.status, r.body)
	}
	member := r.json(t)["secret"].(string)
	id := e.create("/v1/call-plans", mainPlan("Main", own["id"].(string), ""))
	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/call-plans", mainPlan("Other", own["id"].(string), "")},
		{"GET", "/v1/call-plans", nil},
		{"GET", "/v1/call-plans/" + id, nil},
		{"PUT", "/v1/call-plans/" + id, mainPlan("Main", own["id"].(string), "")},
		{"PATCH", "/v1/call-plans/" + id, map[string]any{"name": "Mine"}},
		{"DELETE", "/v1/call-plans/" + id, nil},
	} {
		if r := e.do(tt.method, tt.path, member, tt.body); r.status != 403 {
			t.Errorf("%s %s with a member key: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
}
