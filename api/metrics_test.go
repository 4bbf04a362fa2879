package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// seenRequest is one request as a RequestObserver saw it.
type seenRequest struct {
	route, method string
	status        int
}

type requestLog struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (l *requestLog) ObserveRequest(route, method string, status int, _ time.Duration) {
	l.mu.Lock()
	l.seen = append(l.seen, seenRequest{route, method, status})
	l.mu.Unlock()
}

func (l *requestLog) last() seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return seenRequest{}
	}
	return l.seen[len(l.seen)-1]
}

// newMetricsEnv serves the API with a stand-in exposition at /metrics.
func newMetricsEnv(t *testing.T, open bool) (*env, *requestLog) {
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
	seen := &requestLog{}
	exposition := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("dialtone_up 1\n"))
	})
	h := api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db,
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: api.MetricsConfig{Handler: exposition, Open: open, Requests: seen},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: &syncBuffer{}, db: db}, seen
}

func TestMetricsAccess(t *testing.T) {
	closed, _ := newMetricsEnv(t, false)
	ext := closed.createExtension("1001")
	r := closed.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "member", "role": "member", "extension_id": ext["id"]})
	if r.status != 201 {
		t.Fatalf("create member key: %d %s", r.status, r.body)
	}
	member := r.json(t)["secret"].(string)
	open, _ := newMetricsEnv(t, true)
	tests := []struct {
		name   string
		e      *env
		method string
		key    string
		status int
	}{
		{"open: no key", open, "GET", "", 200},
		{"open: HEAD", open, "HEAD", "", 200},
		{"open: POST", open, "POST", "", 405},
		{"closed: no key", closed, "GET", "", 401},
		{"closed: wrong key", closed, "GET", "not-a-key", 401},
		{"closed: member key", closed, "GET", member, 403},
		{"closed: admin key", closed, "GET", adminKey, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.e.do(tt.method, "/metrics", tt.key, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 && tt.method == "GET" && string(r.body) != "dialtone_up 1\n" {
				t.Fatalf("body %q", r.body)
			}
		})
	}
}

func TestRequestsObservedByRoute(t *testing.T) {
	e, seen := newMetricsEnv(t, true)
	ext := e.createExtension("1001")
	tests := []struct {
		name, method, path, key string
		want                    seenRequest
	}{
		{"created", "POST", "/v1/extensions", adminKey, seenRequest{"/v1/extensions", "POST", 0}},
		{"by id: the pattern, not the path", "GET", "/v1/extensions/" + ext["id"].(string), adminKey,
			seenRequest{"/v1/extensions/{id}", "GET", 200}},
		{"refused before routing", "GET", "/v1/extensions", "", seenRequest{"/v1/extensions", "GET", 401}},
		{"no route", "GET", "/v1/no-such-thing/42", adminKey, seenRequest{"unmatched", "GET", 404}},
		{"metrics", "GET", "/metrics", "", seenRequest{"/metrics", "GET", 200}},
		{"health", "GET", "/healthz", "", seenRequest{"/healthz", "GET", 200}},
		{"unusual method", "BREW", "/v1/extensions", adminKey, seenRequest{"unmatched", "OTHER", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.key, nil)
			got := seen.last()
			want := tt.want
			if want.status == 0 {
				want.status = r.status
			}
			if got != want {
				t.Fatalf("observed %+v, want %+v", got, want)
			}
		})
	}
}
