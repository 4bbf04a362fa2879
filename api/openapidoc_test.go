package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

func operations(oapi *huma.OpenAPI) map[string]*huma.Operation {
	ops := map[string]*huma.Operation{}
	for path, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				ops[op.Method+" "+path] = op
			}
		}
	}
	return ops
}

// TestOpenAPIOperationsDocumentErrors checks what every operation documents:
// a description and a described tag, the problem+json answers of the
// middleware and of validation, and Idempotency-Key on every POST.
func TestOpenAPIOperationsDocumentErrors(t *testing.T) {
	oapi := OpenAPI()
	tags := map[string]bool{}
	for _, tag := range oapi.Tags {
		if tag.Description == "" {
			t.Errorf("tag %s has no description", tag.Name)
		}
		tags[tag.Name] = true
	}
	if oapi.Info.License == nil || oapi.Info.License.Identifier != "Apache-2.0" || len(oapi.Servers) == 0 {
		t.Errorf("info.license or servers missing: %+v %v", oapi.Info.License, oapi.Servers)
	}
	for name, op := range operations(oapi) {
		if op.Description == "" || op.Summary == "" {
			t.Errorf("%s: no summary or description", name)
		}
		for _, tag := range op.Tags {
			if !tags[tag] {
				t.Errorf("%s: tag %s is not in the document's tags", name, tag)
			}
		}
		if len(op.Tags) == 0 {
			t.Errorf("%s: no tag", name)
		}
		for code, r := range op.Responses {
			if r.Headers["X-Request-Id"] == nil {
				t.Errorf("%s %s: X-Request-Id not documented", name, code)
			}
			if code[0] == '4' || code[0] == '5' {
				if mt := r.Content["application/problem+json"]; mt == nil || mt.Schema == nil {
					t.Errorf("%s %s: not a problem+json answer", name, code)
				}
			}
		}
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue
		}
		want := []string{"401", "429"}
		hasPath := slices.ContainsFunc(op.Parameters, func(p *huma.Param) bool { return p.In == "path" })
		if hasPath {
			want = append(want, "404")
		}
		if op.RequestBody != nil {
			want = append(want, "400", "413", "415", "422")
		}
		if len(op.Parameters) > 0 {
			want = append(want, "422")
		}
		if op.Method == http.MethodPost {
			want = append(want, "400", "413", "422")
			i := slices.IndexFunc(op.Parameters, func(p *huma.Param) bool { return p.In == "header" && p.Name == "Idempotency-Key" })
			if i < 0 || op.Parameters[i].Description == "" {
				t.Errorf("%s: Idempotency-Key not declared with a description", name)
			}
		}
		for _, code := range want {
			if op.Responses[code] == nil {
				t.Errorf("%s: %s not documented", name, code)
			}
		}
		if r := op.Responses["429"]; r != nil && r.Headers["Retry-After"] == nil {
			t.Errorf("%s: 429 without Retry-After", name)
		}
	}
}

// TestOpenAPIExtensionPatch checks that the documented merge patch lists the
// fields the route decodes (but sip_password, refused on update), and marks
// nullable exactly the fields a null clears.
func TestOpenAPIExtensionPatch(t *testing.T) {
	fields := func(typ reflect.Type) []string {
		var out []string
		for f := range typ.Fields() {
			out = append(out, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		sort.Strings(out)
		return out
	}
	decoded := slices.DeleteFunc(fields(reflect.TypeFor[ExtensionInput]()), func(s string) bool { return s == "sip_password" })
	if documented := fields(reflect.TypeFor[ExtensionPatch]()); !slices.Equal(documented, decoded) {
		t.Errorf("ExtensionPatch fields %v, the route decodes %v", documented, decoded)
	}
	schema := OpenAPI().Components.Schemas.Map()["ExtensionPatch"]
	var nullable, cleared []string
	for name, p := range schema.Properties {
		if p.Nullable || slices.Contains(typeList(p), "null") {
			nullable = append(nullable, name)
		}
	}
	for name := range clearedBy {
		cleared = append(cleared, name)
	}
	sort.Strings(nullable)
	sort.Strings(cleared)
	if !slices.Equal(nullable, cleared) {
		t.Errorf("nullable in ExtensionPatch %v, cleared by null %v", nullable, cleared)
	}
	if len(schema.Required) != 0 {
		t.Errorf("ExtensionPatch requires %v", schema.Required)
	}
}

func typeList(s *huma.Schema) []string {
	b, _ := json.Marshal(s)
	var m struct {
		Type any `json:"type"`
	}
	_ = json.Unmarshal(b, &m)
	switch v := m.Type.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// TestOpenAPIRequestBodies checks the bodies code generators see: a create
// body requires only what it must and has no defaults (TypeScript would make
// a defaulted field mandatory); a patch body requires nothing.
func TestOpenAPIRequestBodies(t *testing.T) {
	oapi := OpenAPI()
	reg := oapi.Components.Schemas
	for name, op := range operations(oapi) {
		if op.RequestBody == nil {
			continue
		}
		for ct, mt := range op.RequestBody.Content {
			s := mt.Schema
			if s.Ref != "" {
				s = reg.SchemaFromRef(s.Ref)
			}
			if s == nil || s.Type != "object" {
				continue
			}
			for prop, p := range s.Properties {
				if p.Default != nil {
					t.Errorf("%s %s: %s has a default", name, ct, prop)
				}
			}
			if op.Method == http.MethodPatch && len(s.Required) > 0 {
				t.Errorf("%s %s: a merge patch requires %v", name, ct, s.Required)
			}
		}
	}
	for typ, fields := range createRequired {
		s := reg.Map()[typ.Name()]
		if s == nil || !slices.Equal(s.Required, fields) {
			t.Errorf("%s requires %v, want %v", typ.Name(), s.Required, fields)
		}
	}
}

// TestOpenAPIWebhookSchemasReachable checks that every schema the webhooks
// section names is reachable from the paths: generators that read only the
// paths (oapi-codegen) drop the others and then fail to compile.
func TestOpenAPIWebhookSchemasReachable(t *testing.T) {
	oapi := OpenAPI()
	b, err := json.Marshal(oapi)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Webhooks   map[string]any `json:"webhooks"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Webhooks["webhook.ping"] == nil {
		t.Error("webhook.ping is not in webhooks")
	}
	refs := func(v any) map[string]bool {
		out := map[string]bool{}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if s, ok := x.(string); ok && k == "$ref" {
						out[strings.TrimPrefix(s, "#/components/schemas/")] = true
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(v)
		return out
	}
	reachable := refs(doc.Paths)
	for grew := true; grew; {
		grew = false
		for name := range reachable {
			for r := range refs(doc.Components.Schemas[name]) {
				if !reachable[r] {
					reachable[r], grew = true, true
				}
			}
		}
	}
	for r := range refs(doc.Webhooks) {
		if !reachable[r] {
			t.Errorf("webhooks name %s, which no path reaches", r)
		}
	}
}
