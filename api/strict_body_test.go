package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/store"
)

// refusingCalls is a call engine that fails the test if a request body it
// should never see gets through.
type refusingCalls struct{ t *testing.T }

func (c refusingCalls) Calls(call.LiveQuery) []call.Snapshot { return nil }
func (c refusingCalls) Call(call.ID) (call.Snapshot, bool)   { return call.Snapshot{}, false }
func (c refusingCalls) Hangup(context.Context, call.ID) error {
	c.t.Error("hangup reached the call engine")
	return nil
}
func (c refusingCalls) Originate(context.Context, call.Originate) (call.ID, error) {
	c.t.Error("originate reached the call engine")
	return "", nil
}
func (c refusingCalls) Hold(context.Context, call.ID, bool) error {
	c.t.Error("hold reached the call engine")
	return nil
}
func (c refusingCalls) SendDTMF(context.Context, call.ID, string, string) error {
	c.t.Error("dtmf reached the call engine")
	return nil
}
func (c refusingCalls) Transfer(context.Context, call.ID, string, string) error {
	c.t.Error("transfer reached the call engine")
	return nil
}

// fullDeps are the API's dependencies with every configuration resource on a
// test database.
func fullDeps(t *testing.T) (api.Deps, *store.DB, *syncBuffer) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := &core.APIKeys{Repo: db, Extensions: db}
	if _, _, err := keys.Bootstrap(ctx, adminKey); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	return api.Deps{
		Extensions: &core.Extensions{Repo: db, Emergency: []string{"911", "112"}}, APIKeys: keys, Idempotency: db, DB: db,
		Trunks: db, Numbers: db, OutboundRoutes: db, WebhookRepo: db, Allowlist: db, Calls: refusingCalls{t},
		CallRecords: db, Country: "US",
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}, db, logs
}

// newFullEnv serves the API with every configuration resource on the test database.
func newFullEnv(t *testing.T) *env {
	t.Helper()
	d, db, logs := fullDeps(t)
	srv := httptest.NewServer(api.New(d))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: logs, db: db}
}

// create posts a valid body and returns the new resource's id.
func (e *env) create(path string, body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", path, adminKey, body)
	if r.status != 201 {
		e.t.Fatalf("POST %s: %d %s", path, r.status, r.body)
	}
	return r.json(e.t)["id"].(string)
}

// snapshot is the state a refused body must leave alone: every list, and
// the resources the patches aim at.
func (e *env) snapshot(paths ...string) string {
	e.t.Helper()
	var b strings.Builder
	for _, p := range paths {
		r := e.do("GET", p, adminKey, nil)
		if r.status != 200 {
			e.t.Fatalf("GET %s: %d %s", p, r.status, r.body)
		}
		b.WriteString(p + " " + r.header.Get("ETag") + " ")
		b.Write(r.body)
		b.WriteString("\n")
	}
	return b.String()
}

// problemLocations checks a 422 problem and returns its error locations.
func problemLocations(t *testing.T, r resp) []string {
	t.Helper()
	if r.status != 422 {
		t.Fatalf("status %d, want 422: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q, want problem+json", ct)
	}
	var p struct {
		Errors []struct {
			Location string `json:"location"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, e := range p.Errors {
		locs = append(locs, e.Location)
	}
	return locs
}

func TestStrictBodies(t *testing.T) {
	e := newFullEnv(t)
	ctx := context.Background()
	ext := e.createExtension("1001")["id"].(string)
	trunk := e.create("/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.5", "auth_mode": "ip", "allowed_cidrs": []string{"127.0.0.5/32"}})
	num := e.create("/v1/numbers", map[string]any{"number": "+14155550100", "route": map[string]any{"type": "reject"}})
	route := e.create("/v1/outbound-routes", map[string]any{"name": "us", "patterns": []string{"+1NXXNXXXXXX"}, "trunk_ids": []string{trunk}})
	now := time.Now().UTC().Truncate(time.Microsecond)
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://hooks.example.com/in", EventTypes: []string{"call.*"},
		Enabled: true, Secret: "whsec_test", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := e.db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	e.create("/v1/security/allowlist", map[string]any{"cidr": "198.51.100.0/24"})
	state := []string{"/v1/extensions", "/v1/extensions/" + ext, "/v1/api-keys", "/v1/trunks", "/v1/trunks/" + trunk,
		"/v1/numbers", "/v1/numbers/" + num, "/v1/outbound-routes", "/v1/outbound-routes/" + route,
		"/v1/webhooks", "/v1/webhooks/" + string(hook.ID), "/v1/security/allowlist"}
	before := e.snapshot(state...)

	kelvin := "\u212a" // KELVIN SIGN, folded into k by encoding/json
	longS := "\u017f"  // LATIN SMALL LETTER LONG S, folded into s
	tests := []struct {
		name, method, path string
		body               string
		want               string // the location naming the key
	}{
		{"extension create case", "POST", "/v1/extensions", `{"Number":"1002"}`, "body.Number"},
		{"extension create upper", "POST", "/v1/extensions", `{"number":"1002","NAME":"x"}`, "body.NAME"},
		{"extension create unknown", "POST", "/v1/extensions", `{"number":"1002","nickname":"x"}`, "body.nickname"},
		{"extension create long s", "POST", "/v1/extensions", `{"number":"1002","` + longS + `ip_username":"x"}`, "body." + longS + "ip_username"},
		{"extension patch case", "PATCH", "/v1/extensions/" + ext, `{"Name":"x"}`, "body.Name"},
		{"extension patch unknown", "PATCH", "/v1/extensions/" + ext, `{"name":"x","colour":"red"}`, "body.colour"},
		{"extension patch null case", "PATCH", "/v1/extensions/" + ext, `{"EMAIL":null}`, "body.EMAIL"},
		{"api key case", "POST", "/v1/api-keys", `{"name":"k","role":"admin","Role":"member"}`, "body.Role"},
		{"api key unknown", "POST", "/v1/api-keys", `{"name":"k","role":"admin","scopes":["*"]}`, "body.scopes"},
		{"webhook create case", "POST", "/v1/webhooks", `{"url":"https://hooks.example.com/x","event_types":["*"],"URL":"http://127.0.0.1/"}`, "body.URL"},
		{"webhook create unknown", "POST", "/v1/webhooks", `{"url":"https://hooks.example.com/x","event_types":["*"],"secret":"mine"}`, "body.secret"},
		{"webhook patch case", "PATCH", "/v1/webhooks/" + string(hook.ID), `{"Url":"http://127.0.0.1/"}`, "body.Url"},
		{"trunk create case", "POST", "/v1/trunks", `{"name":"t2","host":"127.0.0.6","auth_mode":"ip","Max_Channels":1}`, "body.Max_Channels"},
		{"trunk patch unknown", "PATCH", "/v1/trunks/" + trunk, `{"hostname":"127.0.0.7"}`, "body.hostname"},
		{"trunk patch case", "PATCH", "/v1/trunks/" + trunk, `{"Enabled":false}`, "body.Enabled"},
		{"number create kelvin", "POST", "/v1/numbers", `{"number":"+14155550101","` + kelvin + `ind":"mobile","route":{"type":"reject"}}`, "body." + kelvin + "ind"},
		{"number create nested case", "POST", "/v1/numbers", `{"number":"+14155550101","route":{"Type":"reject"}}`, "body.route.Type"},
		{"number create nested unknown", "POST", "/v1/numbers", `{"number":"+14155550101","route":{"type":"reject","reason":"x"}}`, "body.route.reason"},
		{"number patch case", "PATCH", "/v1/numbers/" + num, `{"Trunk_ID":"` + trunk + `"}`, "body.Trunk_ID"},
		{"number patch nested case", "PATCH", "/v1/numbers/" + num, `{"route":{"type":"extension","EXTENSION_ID":"` + ext + `"}}`, "body.route.EXTENSION_ID"},
		{"outbound create case", "POST", "/v1/outbound-routes", `{"name":"x","patterns":["+1NXXNXXXXXX"],"Trunk_IDs":["` + trunk + `"]}`, "body.Trunk_IDs"},
		{"outbound patch unknown", "PATCH", "/v1/outbound-routes/" + route, `{"priority":1}`, "body.priority"},
		{"outbound patch case", "PATCH", "/v1/outbound-routes/" + route, `{"Prepend":"9"}`, "body.Prepend"},
		{"call case", "POST", "/v1/calls", `{"from":"1001","to":"1002","Auto_Answer":true}`, "body.Auto_Answer"},
		{"call unknown", "POST", "/v1/calls", `{"from":"1001","to":"1002","caller_id":"+14155550100"}`, "body.caller_id"},
		{"call control case", "POST", "/v1/calls/call_x/dtmf", `{"Digits":"1"}`, "body.Digits"},
		{"call transfer unknown", "POST", "/v1/calls/call_x/transfer", `{"to":"1002","from":"1001"}`, "body.from"},
		{"allowlist case", "POST", "/v1/security/allowlist", `{"cidr":"10.0.0.0/8","Description":"x"}`, "body.Description"},
		{"allowlist unknown", "POST", "/v1/security/allowlist", `{"cidr":"10.0.0.0/8","expires":"never"}`, "body.expires"},
		{"allowlist upper", "POST", "/v1/security/allowlist", `{"CIDR":"10.0.0.0/8"}`, "body.CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, adminKey, tt.body)
			locs := problemLocations(t, r)
			found := false
			for _, l := range locs {
				found = found || l == tt.want
			}
			if !found {
				t.Fatalf("locations %q, want %q: %s", locs, tt.want, r.body)
			}
		})
	}
	if after := e.snapshot(state...); after != before {
		t.Fatalf("a refused body changed something:\nbefore %s\nafter  %s", before, after)
	}
}

// TestStrictBodyExactKeys checks that exact keys, including JSON escapes of
// them, still decode.
func TestStrictBodyExactKeys(t *testing.T) {
	e := newFullEnv(t)
	r := e.do("POST", "/v1/extensions", adminKey, `{"\u006eumber":"1005","name":"Escaped"}`)
	if r.status != 201 || r.json(t)["number"] != "1005" {
		t.Fatalf("escaped key: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	r = e.do("PATCH", "/v1/extensions/"+id, adminKey, `{"name":"Renamed","email":null}`)
	if r.status != 200 || r.json(t)["name"] != "Renamed" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
}

// TestMemberLockedFieldsAnySpelling: a member key cannot change a locked
// field of its own extension however the key is spelled.
func TestMemberLockedFieldsAnySpelling(t *testing.T) {
	e := newFullEnv(t)
	ext := e.createExtension("1001")
	id := ext["id"].(string)
	r := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "member", "role": "member", "extension_id": id})
	if r.status != 201 {
		t.Fatalf("member key: %d %s", r.status, r.body)
	}
	member := r.json(t)["secret"].(string)
	before := e.snapshot("/v1/extensions/" + id)

	values := map[string]any{
		"number":                "1999",
		"sip_username":          "boss",
		"enabled":               false,
		"outbound_caller_id":    "+14155550199",
		"call_permissions":      []string{"internal", "local", "national", "mobile", "international", "premium"},
		"sip_digest_algorithms": []string{"MD5"},
	}
	spellings := func(f string) []string {
		out := []string{f, strings.ToUpper(f), strings.ToUpper(f[:1]) + f[1:], f[:len(f)-1] + strings.ToUpper(f[len(f)-1:]),
			strings.ReplaceAll(f, "s", "\u017f"), strings.ReplaceAll(f, "k", "\u212a"), strings.ReplaceAll(f, "K", "\u212a"),
			" " + f, f + " ", strings.ReplaceAll(f, "_", "-"), strings.ReplaceAll(f, "_", ""),
			strings.ToUpper(f[:1]) + strings.ReplaceAll(f[1:], "s", "\u017f")}
		var uniq []string
		for _, s := range out {
			if !contains(uniq, s) {
				uniq = append(uniq, s)
			}
		}
		return uniq
	}
	for field, value := range values {
		for _, key := range spellings(field) {
			t.Run(field+"/"+key, func(t *testing.T) {
				body, _ := json.Marshal(map[string]any{key: value})
				r := e.do("PATCH", "/v1/extensions/"+id, member, string(body))
				switch {
				case key == field && r.status != 403:
					t.Fatalf("exact key: %d, want 403: %s", r.status, r.body)
				case key != field && r.status != 422:
					t.Fatalf("%q: %d, want 422: %s", key, r.status, r.body)
				}
				if key != field {
					if locs := problemLocations(t, r); !contains(locs, "body."+key) {
						t.Fatalf("locations %q, want body.%s", locs, key)
					}
				}
			})
		}
		// A key spelled exactly next to a case variant, and an escaped exact key.
		for _, raw := range []string{
			`{"name":"x","` + strings.ToUpper(field) + `":` + mustJSON(value) + `}`,
			`{"` + jsonEscapeAll(field) + `":` + mustJSON(value) + `}`,
		} {
			r := e.do("PATCH", "/v1/extensions/"+id, member, raw)
			if r.status != 403 && r.status != 422 {
				t.Fatalf("%s: %d %s", raw, r.status, r.body)
			}
		}
	}
	if after := e.snapshot("/v1/extensions/" + id); after != before {
		t.Fatalf("a member changed a locked field:\nbefore %s\nafter  %s", before, after)
	}
	// The fields a member may change still work.
	if r := e.do("PATCH", "/v1/extensions/"+id, member, `{"name":"Mine"}`); r.status != 200 {
		t.Fatalf("member rename: %d %s", r.status, r.body)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonEscapeAll spells every character of s as a \u escape.
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// TestRequestSchemasClosed: every object a request body can hold says
// additionalProperties: false, so huma's validator refuses unknown keys by
// name before decoding.
func TestRequestSchemasClosed(t *testing.T) {
	doc := api.OpenAPI()
	reg := doc.Components.Schemas
	var check func(where string, s *huma.Schema, seen map[*huma.Schema]bool)
	check = func(where string, s *huma.Schema, seen map[*huma.Schema]bool) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.Ref != "" {
			check(where+" "+s.Ref, reg.SchemaFromRef(s.Ref), seen)
			return
		}
		if s.Type == "object" && len(s.Properties) > 0 {
			if closed, ok := s.AdditionalProperties.(bool); !ok || closed {
				t.Errorf("%s: additionalProperties is %v, want false", where, s.AdditionalProperties)
			}
		}
		for name, p := range s.Properties {
			check(where+"."+name, p, seen)
		}
		check(where+"[]", s.Items, seen)
		for _, sub := range append(append(append([]*huma.Schema{}, s.OneOf...), s.AnyOf...), s.AllOf...) {
			check(where, sub, seen)
		}
	}
	n := 0
	for path, item := range doc.Paths {
		for method, op := range map[string]*huma.Operation{"POST": item.Post, "PUT": item.Put, "PATCH": item.Patch} {
			if op == nil || op.RequestBody == nil {
				continue
			}
			for ct, mt := range op.RequestBody.Content {
				n++
				check(method+" "+path+" "+ct, mt.Schema, map[*huma.Schema]bool{})
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d request bodies found", n)
	}
}
