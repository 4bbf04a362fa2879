package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTimestampsOnePrecision: a resource shows the same times, to the
// microsecond the store keeps, in the create answer, a get and a list.
func TestTimestampsOnePrecision(t *testing.T) {
	e := newFullEnv(t)
	ext := e.createExtension("1001")
	trunk := e.create("/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.5", "auth_mode": "ip", "allowed_cidrs": []string{"127.0.0.5/32"}})
	tests := []struct {
		name, collection string
		body             map[string]any
		get              bool
	}{
		{"extension", "/v1/extensions", map[string]any{"number": "1002"}, true},
		{"api key", "/v1/api-keys", map[string]any{"name": "member", "role": "member", "extension_id": ext["id"]}, false},
		{"admin api key", "/v1/api-keys", map[string]any{"name": "ops", "role": "admin"}, false},
		{"trunk", "/v1/trunks", map[string]any{"name": "backup", "host": "127.0.0.6", "auth_mode": "ip", "allowed_cidrs": []string{"127.0.0.6/32"}}, true},
		{"number", "/v1/numbers", map[string]any{"number": "+14155550100", "route": map[string]any{"type": "reject"}}, true},
		{"outbound route", "/v1/outbound-routes", map[string]any{"name": "us", "patterns": []string{"+1NXXNXXXXXX"}, "trunk_ids": []string{trunk}}, true},
		{"allow-list entry", "/v1/security/allowlist", map[string]any{"cidr": "198.51.100.0/24"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.collection, adminKey, tt.body)
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			created := r.json(t)
			id := created["id"].(string)
			times := timeFields(t, created)
			if len(times) == 0 {
				t.Fatalf("no times in %s", r.body)
			}
			var seen []map[string]any
			if tt.get {
				g := e.do("GET", tt.collection+"/"+id, adminKey, nil)
				if g.status != 200 {
					t.Fatalf("get: %d %s", g.status, g.body)
				}
				seen = append(seen, g.json(t))
			}
			l := e.do("GET", tt.collection+"?limit=500", adminKey, nil)
			var list struct {
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal(l.body, &list); err != nil || l.status != 200 {
				t.Fatalf("list: %d %s", l.status, l.body)
			}
			for _, item := range list.Items {
				if item["id"] == id {
					seen = append(seen, item)
				}
			}
			if len(seen) != map[bool]int{true: 2, false: 1}[tt.get] {
				t.Fatalf("read back %d times", len(seen))
			}
			for _, s := range seen {
				for k, v := range times {
					if s[k] != v {
						t.Fatalf("%s: created %v, read back %v", k, v, s[k])
					}
				}
			}
		})
	}
}

// timeFields returns the fields ending in _at and checks their precision.
func timeFields(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok || !strings.HasSuffix(k, "_at") {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if at.Nanosecond()%1000 != 0 || at.Location() != time.UTC {
			t.Fatalf("%s = %s: not UTC microseconds", k, s)
		}
		out[k] = v
	}
	return out
}
