package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// corsServer serves the real API wiring with the given allowed origins.
func corsServer(t *testing.T, origins []string) string {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := &core.APIKeys{Repo: db, Extensions: db}
	if _, _, err := keys.Bootstrap(context.Background(), adminKey); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db,
		CORSOrigins: origins,
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCORS(t *testing.T) {
	const crm = "https://crm.example.com"
	preflight := []string{"Origin", crm, "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization,content-type,if-match,idempotency-key"}
	tests := []struct {
		name    string
		origins []string
		method  string
		path    string
		key     string
		headers []string
		status  int
		want    map[string]string // "" means absent
	}{
		{"off: preflight is not answered", nil, "OPTIONS", "/v1/extensions", "", preflight, 401,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Vary": ""}},
		{"off: no headers on a request", nil, "GET", "/v1/extensions", adminKey, []string{"Origin", crm}, 200,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": ""}},
		{"preflight from an allowed origin, without a key", []string{crm}, "OPTIONS", "/v1/extensions/ext_1", "", preflight, 204,
			map[string]string{
				"Access-Control-Allow-Origin":      crm,
				"Access-Control-Allow-Methods":     "GET, POST, PUT, PATCH, DELETE",
				"Access-Control-Allow-Headers":     "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Last-Event-ID",
				"Access-Control-Allow-Credentials": "",
				"Vary":                             "Origin",
			}},
		{"preflight from another origin", []string{crm}, "OPTIONS", "/v1/extensions", "",
			[]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "DELETE"}, 403,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Vary": "Origin"}},
		{"request from an allowed origin", []string{"http://localhost:3000", crm}, "GET", "/v1/extensions", adminKey, []string{"Origin", crm}, 200,
			map[string]string{
				"Access-Control-Allow-Origin":      crm,
				"Access-Control-Expose-Headers":    "ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After",
				"Access-Control-Allow-Credentials": "",
				"Vary":                             "Origin",
			}},
		{"error from an allowed origin is readable", []string{crm}, "GET", "/v1/extensions", "wrong-key", []string{"Origin", crm}, 401,
			map[string]string{"Access-Control-Allow-Origin": crm}},
		{"request from another origin", []string{crm}, "GET", "/v1/extensions", adminKey, []string{"Origin", "https://crm.example.com.evil.example"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "", "Vary": "Origin"}},
		{"request without an origin", []string{crm}, "GET", "/v1/extensions", adminKey, nil, 200,
			map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{"any origin", []string{"*"}, "OPTIONS", "/v1/calls", "", []string{"Origin", "http://anything.test", "Access-Control-Request-Method", "POST"}, 204,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Last-Event-ID"}},
		{"any origin on a request", []string{"*"}, "GET", "/healthz", "", []string{"Origin", "http://anything.test"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After"}},
		{"OPTIONS that is not a preflight goes to the API", []string{crm}, "OPTIONS", "/v1/extensions", "", []string{"Origin", crm}, 401,
			map[string]string{"Access-Control-Allow-Origin": crm, "Access-Control-Allow-Methods": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := corsServer(t, tt.origins)
			req, _ := http.NewRequest(tt.method, url+tt.path, nil)
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			for name, want := range tt.want {
				got := strings.Join(res.Header.Values(name), ", ")
				if name == "Vary" && want != "" {
					if !strings.Contains(got, want) {
						t.Errorf("Vary %q does not name %s", got, want)
					}
					continue
				}
				if got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestCheckCORSOrigins(t *testing.T) {
	tests := []struct {
		origins []string
		ok      bool
	}{
		{nil, true},
		{[]string{"*"}, true},
		{[]string{"https://crm.example.com"}, true},
		{[]string{"http://localhost:3000", "https://app.example.com/"}, true},
		{[]string{"https://[2001:db8::1]:8443"}, true},
		{[]string{"*", "https://crm.example.com"}, false},
		{[]string{"crm.example.com"}, false},
		{[]string{"https://crm.example.com/app"}, false},
		{[]string{"ftp://crm.example.com"}, false},
		{[]string{"https://user@crm.example.com"}, false},
		{[]string{"https://crm.example.com?x=1"}, false},
		{[]string{""}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.origins, ","), func(t *testing.T) {
			if err := api.CheckCORSOrigins(tt.origins); (err == nil) != tt.ok {
				t.Fatalf("CheckCORSOrigins(%q) = %v, want ok %v", tt.origins, err, tt.ok)
			}
		})
	}
}
