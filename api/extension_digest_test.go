package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// digestAlgs reads sip_digest_algorithms from an extension body: nil for null.
func digestAlgs(t *testing.T, r resp) []string {
	t.Helper()
	var body struct {
		Algs *[]string `json:"sip_digest_algorithms"`
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("body: %s", r.body)
	}
	if _, ok := raw["sip_digest_algorithms"]; !ok {
		t.Fatalf("sip_digest_algorithms missing: %s", r.body)
	}
	_ = json.Unmarshal(r.body, &body)
	if body.Algs == nil {
		return nil
	}
	return *body.Algs
}

// problemNames reports whether a problem+json body names field.
func problemNames(t *testing.T, r resp, field string) bool {
	t.Helper()
	var p struct {
		Errors []struct {
			Location string `json:"location"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem: %s", r.body)
	}
	for _, e := range p.Errors {
		if e.Location == field {
			return true
		}
	}
	return false
}

func TestExtensionDigestAlgorithmsCreate(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		algs   any // omitted when nil
		status int
		want   []string
	}{
		{"absent: server default", nil, 201, nil},
		{"null: server default", json.RawMessage("null"), 201, nil},
		{"sha-256 then md5", []string{"SHA-256", "MD5"}, 201, []string{"SHA-256", "MD5"}},
		{"lower case", []string{"sha-256"}, 201, []string{"SHA-256"}},
		{"empty list", []string{}, 422, nil},
		{"unknown algorithm", []string{"SHA-512"}, 422, nil},
		{"repeated", []string{"MD5", "MD5"}, 422, nil},
		{"not a list", "MD5", 422, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"number": fmt.Sprintf("20%02d", i)}
			if tt.algs != nil {
				body["sip_digest_algorithms"] = tt.algs
			}
			r := e.do("POST", "/v1/extensions", adminKey, body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status != 201 {
				if !problemNames(t, r, "body.sip_digest_algorithms") {
					t.Fatalf("the problem does not name body.sip_digest_algorithms: %s", r.body)
				}
				return
			}
			got := digestAlgs(t, r)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("sip_digest_algorithms %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtensionDigestAlgorithmsPatch(t *testing.T) {
	e := newEnv(t)
	ext := e.createExtension("1001")
	path := "/v1/extensions/" + ext["id"].(string)
	steps := []struct {
		name   string
		patch  string
		status int
		want   []string // the stored value after the step
	}{
		{"set sha-256 only", `{"sip_digest_algorithms": ["SHA-256"]}`, 200, []string{"SHA-256"}},
		{"other fields keep it", `{"name": "Ann"}`, 200, []string{"SHA-256"}},
		{"reorder", `{"sip_digest_algorithms": ["MD5", "SHA-256"]}`, 200, []string{"MD5", "SHA-256"}},
		{"unknown algorithm", `{"sip_digest_algorithms": ["SHA-512-256"]}`, 422, []string{"MD5", "SHA-256"}},
		{"empty list", `{"sip_digest_algorithms": []}`, 422, []string{"MD5", "SHA-256"}},
		{"null clears", `{"sip_digest_algorithms": null}`, 200, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do("PATCH", path, adminKey, s.patch)
			if r.status != s.status {
				t.Fatalf("status %d, want %d: %s", r.status, s.status, r.body)
			}
			if r.status == 422 && !problemNames(t, r, "body.sip_digest_algorithms") {
				t.Fatalf("the problem does not name body.sip_digest_algorithms: %s", r.body)
			}
			got := digestAlgs(t, e.do("GET", path, adminKey, nil))
			if !slices.Equal(got, s.want) || (got == nil) != (s.want == nil) {
				t.Fatalf("stored %q, want %q", got, s.want)
			}
		})
	}
}

// A member key may not change its extension's digest algorithms: they are
// the PBX's security policy for that phone.
func TestExtensionDigestAlgorithmsMemberLocked(t *testing.T) {
	e := newEnv(t)
	own := e.createExtension("1001")
	r := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "ann", "role": "member", "extension_id": own["id"]})
	if r.status != 201 {
		t.Fatalf("create member key: %d %s", r.status, r.body)
	}
	member := r.json(t)["secret"].(string)
	path := "/v1/extensions/" + own["id"].(string)
	tests := []struct {
		name   string
		patch  string
		status int
	}{
		{"set", `{"sip_digest_algorithms": ["MD5"]}`, 403},
		{"clear", `{"sip_digest_algorithms": null}`, 403},
		{"read it", ``, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r resp
			if tt.patch == "" {
				r = e.do("GET", path, member, nil)
				digestAlgs(t, r)
			} else {
				r = e.do("PATCH", path, member, tt.patch)
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
}
