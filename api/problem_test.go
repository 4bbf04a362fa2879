package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProblems: whoever answers an error (the mux, a middleware, huma's
// validation or a handler), the body is problem+json with a type and, as
// instance, the request id of the X-Request-Id header.
func TestProblems(t *testing.T) {
	e := newFullEnv(t)
	tests := []struct {
		name         string
		method, path string
		key          string
		body         any
		headers      []string
		status       int
		allow        string
	}{
		{"unknown path", "GET", "/v1/nothing-here", adminKey, nil, nil, 404, ""},
		{"unknown root path", "GET", "/wp-login.php", adminKey, nil, nil, 404, ""},
		{"unknown sub path", "POST", "/v1/extensions/ext_x/bogus", adminKey, `{}`, nil, 404, ""},
		{"wrong method on collection", "PUT", "/v1/extensions", adminKey, `{}`, nil, 405, "GET, HEAD, POST"},
		{"wrong method on item", "POST", "/v1/extensions/ext_x", adminKey, `{}`, nil, 405, "DELETE, GET, HEAD, PATCH"},
		{"wrong method on trunks", "DELETE", "/v1/trunks", adminKey, nil, nil, 405, "GET, HEAD, POST"},
		{"no key", "GET", "/v1/extensions", "", nil, nil, 401, ""},
		{"no key on unknown path", "GET", "/v1/nothing-here", "", nil, nil, 401, ""},
		{"wrong key", "GET", "/v1/extensions", "not-a-key", nil, nil, 401, ""},
		{"validation", "POST", "/v1/extensions", adminKey, `{"number":"x"}`, nil, 422, ""},
		{"not found by a handler", "GET", "/v1/extensions/ext_missing", adminKey, nil, nil, 404, ""},
		{"malformed json", "POST", "/v1/extensions", adminKey, `{"number":`, nil, 400, ""},
		{"client request id", "GET", "/v1/nothing-here", adminKey, nil, []string{"X-Request-Id", "trace-42.a_b"}, 404, ""},
		{"idempotency key too long", "POST", "/v1/extensions", adminKey, `{"number":"1001"}`, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.key, tt.body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("Content-Type %q: %s", ct, r.body)
			}
			var p struct {
				Type     string `json:"type"`
				Title    string `json:"title"`
				Status   int    `json:"status"`
				Detail   string `json:"detail"`
				Instance string `json:"instance"`
			}
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("not JSON: %s", r.body)
			}
			id := r.header.Get("X-Request-Id")
			if p.Type != "about:blank" || p.Status != tt.status || p.Title == "" || p.Instance == "" || p.Instance != id {
				t.Fatalf("problem %+v, request id %q", p, id)
			}
			if len(tt.headers) == 2 && tt.headers[0] == "X-Request-Id" && p.Instance != tt.headers[1] {
				t.Fatalf("instance %q, want the client's request id %q", p.Instance, tt.headers[1])
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	t.Run("served paths still served", func(t *testing.T) {
		if r := e.do("GET", "/v1/extensions", adminKey, nil); r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/healthz", "", nil); r.status != 200 {
			t.Fatalf("healthz: %d %s", r.status, r.body)
		}
	})
}

// TestExtensionNumberReserved: an extension number that is, starts or starts
// with an emergency number (the server's list) is 422 naming body.number, on
// create and on renumbering.
func TestExtensionNumberReserved(t *testing.T) {
	e := newFullEnv(t) // emergency numbers 911 and 112
	ext := e.createExtension("1001")
	tests := []struct {
		number string
		want   string
	}{
		{"911", "is the emergency number 911"},
		{"91", "is the start of the emergency number 911"},
		{"9112", "starts with the emergency number 911"},
		{"11", "is the start of the emergency number 112"},
		{"1120", "starts with the emergency number 112"},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			for _, r := range []resp{
				e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": tt.number}),
				e.do("PATCH", "/v1/extensions/"+ext["id"].(string), adminKey, map[string]any{"number": tt.number}),
			} {
				locs := problemLocations(t, r)
				if len(locs) != 1 || locs[0] != "body.number" || !strings.Contains(string(r.body), tt.want) {
					t.Fatalf("%q: %s", locs, r.body)
				}
			}
		})
	}
	if r := e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": "912"}); r.status != 201 {
		t.Fatalf("912: %d %s", r.status, r.body)
	}
}
