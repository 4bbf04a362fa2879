package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
)

func TestDefaultMOHClassAPI(t *testing.T) {
	e := newPromptEnv(t)
	id := string(core.DefaultMOHClassID)
	r := e.do("GET", "/v1/moh-classes", adminKey, nil)
	items := r.json(t)["items"].([]any)
	if r.status != 200 || len(items) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	def := items[0].(map[string]any)
	if def["id"] != id || def["name"] != "default" || def["default"] != true || def["order"] != "ordered" ||
		len(def["prompts"].([]any)) != 1 || def["prompts"].([]any)[0] != "moh-default" {
		t.Fatalf("default class = %v", def)
	}
	if r := e.do("DELETE", "/v1/moh-classes/"+id, adminKey, nil); r.status != 409 {
		t.Fatalf("delete default: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/v1/moh-classes/"+id, adminKey, map[string]any{"order": "shuffle", "prompts": []string{"moh-default", "beep"}})
	if r.status != 200 || r.json(t)["order"] != "shuffle" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("edit default: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/moh-classes/"+id, adminKey, nil); r.json(t)["default"] != true || len(r.json(t)["prompts"].([]any)) != 2 {
		t.Fatalf("default after edit: %s", r.body)
	}
}

func TestMOHClassAPI(t *testing.T) {
	e := newPromptEnv(t)
	jazz := e.uploadPrompt("name=Jazz", pcmWAV(22050, 2, 1))
	jazzID := jazz["id"].(string)

	tests := []struct {
		name   string
		body   any
		status int
		loc    string
	}{
		{"unknown stored prompt", map[string]any{"name": "a", "prompts": []string{"pmt_0000000000000000"}}, 422, "body.prompts[0]"},
		{"unknown system prompt", map[string]any{"name": "a", "prompts": []string{jazzID, "fanfare"}}, 422, "body.prompts[1]"},
		{"malformed prompt id", map[string]any{"name": "a", "prompts": []string{"pmt_x"}}, 422, "body.prompts[0]"},
		{"no prompts", map[string]any{"name": "a", "prompts": []string{}}, 422, "body.prompts"},
		{"prompts missing", map[string]any{"name": "a"}, 422, "body.prompts"},
		{"bad order", map[string]any{"name": "a", "prompts": []string{"beep"}, "order": "random"}, 422, "body.order"},
		{"unknown field", map[string]any{"name": "a", "prompts": []string{"beep"}, "volume": 3}, 422, "body.volume"},
		{"field case", map[string]any{"Name": "a", "prompts": []string{"beep"}}, 422, "body.Name"},
		{"duplicate name", map[string]any{"name": "default", "prompts": []string{"beep"}}, 409, "body.name"},
		{"empty name", map[string]any{"name": "", "prompts": []string{"beep"}}, 422, "body.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/moh-classes", adminKey, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if !bytes.Contains(r.body, []byte(`"location":"`+tt.loc+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
		})
	}

	r := e.do("POST", "/v1/moh-classes", adminKey, map[string]any{"name": "lobby", "prompts": []string{jazzID, "moh-default"}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	lobby := r.json(t)
	id := lobby["id"].(string)
	if !core.HasPrefix(id, core.PrefixMOHClass) || lobby["order"] != "ordered" || lobby["default"] != false ||
		r.header.Get("Location") != "/v1/moh-classes/"+id {
		t.Fatalf("created: %s %v", r.body, r.header)
	}

	// The prompt cannot go while the class plays it.
	r = e.do("DELETE", "/v1/prompts/"+jazzID, adminKey, nil)
	if r.status != 409 || !strings.Contains(string(r.body), `music-on-hold class \"lobby\"`) {
		t.Fatalf("delete a prompt in use: %d %s", r.status, r.body)
	}

	patches := []struct {
		name    string
		body    string
		ifMatch string
		status  int
		loc     string
	}{
		{"null prompts", `{"prompts":null}`, "", 422, "body.prompts"},
		{"unknown prompt", `{"prompts":["pmt_0000000000000000"]}`, "", 422, "body.prompts[0]"},
		{"unknown field", `{"loop":true}`, "", 422, "body.loop"},
		{"rename onto default", `{"name":"default"}`, "", 409, "body.name"},
		{"stale If-Match", `{"order":"shuffle"}`, `"9"`, 412, ""},
	}
	for _, tt := range patches {
		t.Run("patch "+tt.name, func(t *testing.T) {
			r := e.send("PATCH", "/v1/moh-classes/"+id, "application/merge-patch+json", strings.NewReader(tt.body), "If-Match", tt.ifMatch)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.loc != "" && !bytes.Contains(r.body, []byte(`"location":"`+tt.loc+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
		})
	}
	r = e.send("PATCH", "/v1/moh-classes/"+id, "application/merge-patch+json",
		strings.NewReader(`{"name":"hold","order":"shuffle","prompts":["moh-default"]}`), "If-Match", `"1"`)
	if r.status != 200 || r.json(t)["name"] != "hold" || r.json(t)["order"] != "shuffle" || len(r.json(t)["prompts"].([]any)) != 1 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = e.send("PATCH", "/v1/moh-classes/"+id, "application/merge-patch+json", strings.NewReader(`{"order":null}`))
	if r.status != 200 || r.json(t)["order"] != "ordered" || r.json(t)["name"] != "hold" {
		t.Fatalf("order reset: %d %s", r.status, r.body)
	}

	// No longer played: the prompt can go.
	if r := e.do("DELETE", "/v1/prompts/"+jazzID, adminKey, nil); r.status != 204 {
		t.Fatalf("delete unused prompt: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/moh-classes/"+id, adminKey, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/moh-classes/"+id, adminKey, nil); r.status != 404 {
		t.Fatalf("deleted class: %d", r.status)
	}
	if r := e.do("DELETE", "/v1/moh-classes/"+id, adminKey, nil); r.status != 404 {
		t.Fatalf("delete again: %d", r.status)
	}
}
