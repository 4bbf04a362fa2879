package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

const adminKey = "test-admin-key"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t    *testing.T
	url  string
	logs *syncBuffer
	db   *store.DB
}

func newEnv(t *testing.T) *env {
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
	logs := &syncBuffer{}
	h := api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, logs: logs, db: db}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %s", r.body)
	}
	return m
}

func (e *env) do(method, path, key string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPatch {
			req.Header.Set("Content-Type", "application/merge-patch+json")
		}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) createExtension(number string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": number, "name": "Person " + number})
	if r.status != 201 {
		e.t.Fatalf("create %s: %d %s", number, r.status, r.body)
	}
	return r.json(e.t)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"no header", "/v1/extensions", "", 401},
		{"wrong key", "/v1/extensions", "Bearer nope", 401},
		{"wrong scheme", "/v1/extensions", "Basic " + adminKey, 401},
		{"unknown route still needs a key", "/v1/nothing-here", "", 401},
		{"good key", "/v1/extensions", "Bearer " + adminKey, 200},
		{"healthz is open", "/healthz", "", 200},
		{"readyz is open", "/readyz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, "", nil, "Authorization", tt.auth)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 401 {
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
				if r.header.Get("Content-Type") != "application/problem+json" || r.json(t)["status"] != float64(401) {
					t.Errorf("not a problem document: %s %s", r.header.Get("Content-Type"), r.body)
				}
			}
		})
	}
	if r := e.do("GET", "/v1/extensions", adminKey, nil); string(bytes.TrimSpace(r.body)) != `{"items":[]}` {
		t.Fatalf("empty list = %s", r.body)
	}
}

func TestCreateExtension(t *testing.T) {
	e := newEnv(t)
	first := e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": "1001", "name": "Ann", "email": "ann@example.com"})
	if first.status != 201 {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	ext := first.json(t)
	pw, _ := ext["sip_password"].(string)
	if len(pw) < 20 || ext["sip_username"] != "1001" || ext["language"] != "en" || ext["ring_timeout_seconds"] != float64(30) || ext["enabled"] != true {
		t.Fatalf("defaults not applied: %s", first.body)
	}
	if !strings.HasPrefix(ext["id"].(string), "ext_") || first.header.Get("Location") != "/v1/extensions/"+ext["id"].(string) || first.header.Get("ETag") == "" {
		t.Fatalf("id/location/etag: %v %v", first.header, ext["id"])
	}
	tests := []struct {
		name   string
		body   any
		status int
		loc    string
	}{
		{"duplicate number", map[string]any{"number": "1001"}, 409, "body.number"},
		{"duplicate username", map[string]any{"number": "1002", "sip_username": "1001"}, 409, "body.sip_username"},
		{"missing number", map[string]any{"name": "x"}, 422, "body.number"},
		{"bad number", map[string]any{"number": "1"}, 422, "body.number"},
		{"bad timezone", map[string]any{"number": "1003", "timezone": "Mars/Olympus"}, 422, "body.timezone"},
		{"bad mobile", map[string]any{"number": "1003", "mobile": "555-1234"}, 422, "body.mobile"},
		{"bad ring timeout", map[string]any{"number": "1003", "ring_timeout_seconds": 0}, 422, "body.ring_timeout_seconds"},
		{"bad pin", map[string]any{"number": "1003", "voicemail_pin": "12"}, 422, "body.voicemail_pin"},
		{"weak password", map[string]any{"number": "1003", "sip_password": "short"}, 422, "body.sip_password"},
		{"unknown field", map[string]any{"number": "1003", "colour": "red"}, 422, "body.colour"},
		{"wrong type", map[string]any{"number": 1003}, 422, "body.number"},
		{"not json", "{", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/extensions", adminKey, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.loc != "" && !bytes.Contains(r.body, []byte(`"location":"`+tt.loc+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.loc, r.body)
			}
		})
	}
	// Nothing above changed what is stored.
	list := e.do("GET", "/v1/extensions", adminKey, nil).json(t)
	if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "Ann" {
		t.Fatalf("stored extensions changed: %v", list)
	}
	// The password is in no list, get or log line.
	for _, r := range []resp{e.do("GET", "/v1/extensions", adminKey, nil), e.do("GET", "/v1/extensions/"+ext["id"].(string), adminKey, nil)} {
		if bytes.Contains(r.body, []byte(pw)) || bytes.Contains(r.body, []byte("sip_password")) {
			t.Fatalf("secret in a read: %s", r.body)
		}
	}
	if strings.Contains(e.logs.String(), pw) || strings.Contains(e.logs.String(), adminKey) {
		t.Fatal("a secret reached the log")
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	for i := range 250 {
		e.createExtension(fmt.Sprintf("%d", 3000+i))
	}
	seen := map[string]int{}
	cursor := ""
	for {
		r := e.do("GET", "/v1/extensions?limit=100&cursor="+cursor, adminKey, nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		page := r.json(t)
		items := page["items"].([]any)
		if len(items) > 100 {
			t.Fatalf("page of %d", len(items))
		}
		for _, it := range items {
			seen[it.(map[string]any)["id"].(string)]++
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 250 {
		t.Fatalf("walked %d extensions, want 250", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", id, n)
		}
	}
	tests := []struct {
		query  string
		status int
		count  int
	}{
		{"?number_prefix=30&limit=500", 200, 100},
		{"?q=Person%203001", 200, 1},
		{"?limit=501", 422, 0},
		{"?limit=0", 422, 0},
		{"?cursor=garbage!", 422, 0},
		{"?number_prefix=abc", 422, 0},
	}
	for _, tt := range tests {
		r := e.do("GET", "/v1/extensions"+tt.query, adminKey, nil)
		if r.status != tt.status {
			t.Fatalf("%s: %d %s", tt.query, r.status, r.body)
		}
		if tt.status == 200 && len(r.json(t)["items"].([]any)) != tt.count {
			t.Fatalf("%s: want %d items: %s", tt.query, tt.count, r.body)
		}
	}
}

func TestPatchExtension(t *testing.T) {
	e := newEnv(t)
	ext := e.createExtension("1001")
	id := ext["id"].(string)
	path := "/v1/extensions/" + id
	got := e.do("GET", path, adminKey, nil)
	tag := got.header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on read")
	}
	r := e.do("PATCH", path, adminKey, map[string]any{"email": "ann@example.com", "voicemail_pin": "2468", "number": "1005"}, "If-Match", tag)
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["email"] != "ann@example.com" || body["number"] != "1005" || body["sip_username"] != "1005" || body["voicemail_pin_set"] != true || body["name"] != "Person 1001" {
		t.Fatalf("patched: %s", r.body)
	}
	if r.header.Get("ETag") == tag {
		t.Fatal("ETag did not change")
	}
	tests := []struct {
		name    string
		body    any
		ifMatch string
		status  int
	}{
		{"stale If-Match", map[string]any{"name": "x"}, tag, 412},
		{"null clears", map[string]any{"email": nil}, "", 200},
		{"null on required", map[string]any{"number": nil}, "", 422},
		{"bad value", map[string]any{"timezone": "Nowhere/Town"}, "", 422},
		{"unknown field", map[string]any{"colour": "red"}, "", 422},
		{"password not patchable", map[string]any{"sip_password": "LongEnoughPassword1"}, "", 422},
		{"not an object", "[1]", "", 422},
		{"star matches", map[string]any{"name": "Ann"}, "*", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.ifMatch != "" {
				h = []string{"If-Match", tt.ifMatch}
			}
			r := e.do("PATCH", path, adminKey, tt.body, h...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	final := e.do("GET", path, adminKey, nil).json(t)
	if final["email"] != "" || final["name"] != "Ann" || final["number"] != "1005" {
		t.Fatalf("final state: %v", final)
	}
	if r := e.do("PATCH", "/v1/extensions/ext_0000000000000000", adminKey, map[string]any{"name": "x"}); r.status != 404 {
		t.Fatalf("unknown id: %d", r.status)
	}
	if r := e.do("DELETE", path, adminKey, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := e.do("GET", path, adminKey, nil); r.status != 404 {
		t.Fatalf("get after delete: %d", r.status)
	}
}

func TestMemberKeys(t *testing.T) {
	e := newEnv(t)
	own := e.createExtension("1001")
	other := e.createExtension("1002")
	r := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "ann's phone app", "role": "member", "extension_id": own["id"]})
	if r.status != 201 {
		t.Fatalf("create member key: %d %s", r.status, r.body)
	}
	created := r.json(t)
	member := created["secret"].(string)
	ownPath, otherPath := "/v1/extensions/"+own["id"].(string), "/v1/extensions/"+other["id"].(string)
	tests := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"read own", "GET", ownPath, nil, 200},
		{"read other", "GET", otherPath, nil, 403},
		{"edit own name", "PATCH", ownPath, map[string]any{"name": "Ann"}, 200},
		{"edit own number", "PATCH", ownPath, map[string]any{"number": "1009"}, 403},
		{"edit other", "PATCH", otherPath, map[string]any{"name": "x"}, 403},
		{"rotate own password", "POST", ownPath + "/rotate-sip-password", nil, 200},
		{"rotate other password", "POST", otherPath + "/rotate-sip-password", nil, 403},
		{"create extension", "POST", "/v1/extensions", map[string]any{"number": "1003"}, 403},
		{"delete own", "DELETE", ownPath, nil, 403},
		{"list keys", "GET", "/v1/api-keys", nil, 403},
		{"create key", "POST", "/v1/api-keys", map[string]any{"name": "x", "role": "admin"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, member, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	list := e.do("GET", "/v1/extensions", member, nil).json(t)
	if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["number"] != "1001" {
		t.Fatalf("member list: %v", list)
	}
	// Keys are listed without secrets; revoking one takes effect at once.
	keys := e.do("GET", "/v1/api-keys", adminKey, nil)
	if bytes.Contains(keys.body, []byte(member)) || bytes.Contains(keys.body, []byte(`"secret"`)) || len(keys.json(t)["items"].([]any)) != 2 {
		t.Fatalf("key list: %s", keys.body)
	}
	if r := e.do("DELETE", "/v1/api-keys/"+created["id"].(string), adminKey, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := e.do("GET", ownPath, member, nil); r.status != 401 {
		t.Fatalf("revoked key still works: %d", r.status)
	}
}

func TestAPIKeyRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"admin", map[string]any{"name": "ops", "role": "admin"}, 201},
		{"member without extension", map[string]any{"name": "x", "role": "member"}, 422},
		{"member of missing extension", map[string]any{"name": "x", "role": "member", "extension_id": "ext_0000000000000000"}, 422},
		{"admin bound to extension", map[string]any{"name": "x", "role": "admin", "extension_id": "ext_0000000000000000"}, 422},
		{"unknown role", map[string]any{"name": "x", "role": "root"}, 422},
		{"no name", map[string]any{"name": "", "role": "admin"}, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.do("POST", "/v1/api-keys", adminKey, tt.body); r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	// The new admin key works; the bootstrap key can then be revoked, but not the last one.
	list := e.do("GET", "/v1/api-keys", adminKey, nil).json(t)["items"].([]any)
	if len(list) != 2 {
		t.Fatalf("keys: %v", list)
	}
	var ids []string
	for _, k := range list {
		ids = append(ids, k.(map[string]any)["id"].(string))
	}
	if r := e.do("DELETE", "/v1/api-keys/"+ids[0], adminKey, nil); r.status != 204 {
		t.Fatalf("revoke first admin key: %d %s", r.status, r.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"number": "1001"}
	first := e.do("POST", "/v1/extensions", adminKey, body, "Idempotency-Key", "create-1001")
	again := e.do("POST", "/v1/extensions", adminKey, body, "Idempotency-Key", "create-1001")
	if first.status != 201 || again.status != 201 || !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d\n%s\n%s", first.status, again.status, first.body, again.body)
	}
	if again.header.Get("Location") != first.header.Get("Location") {
		t.Fatal("replay lost the Location header")
	}
	other := e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": "1002"}, "Idempotency-Key", "create-1001")
	if other.status != 422 {
		t.Fatalf("other body under the same key: %d %s", other.status, other.body)
	}
	if n := len(e.do("GET", "/v1/extensions", adminKey, nil).json(t)["items"].([]any)); n != 1 {
		t.Fatalf("%d extensions after retries, want 1", n)
	}
	// A different key with the same body is a new request (here a conflict).
	if r := e.do("POST", "/v1/extensions", adminKey, body, "Idempotency-Key", "another"); r.status != 409 {
		t.Fatalf("new key: %d", r.status)
	}
	// Concurrent retries create one extension.
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do("POST", "/v1/extensions", adminKey, map[string]any{"number": "2000"}, "Idempotency-Key", "race").status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 201 && s != 409 {
			t.Fatalf("concurrent retry got %d", s)
		}
	}
	if n := len(e.do("GET", "/v1/extensions?number_prefix=2000", adminKey, nil).json(t)["items"].([]any)); n != 1 {
		t.Fatalf("%d extensions 2000", n)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/v1/extensions?q=secretive", adminKey, nil, "X-Request-Id", "req-123")
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		_ = json.Unmarshal([]byte(l), &line)
		if line["request_id"] == "req-123" {
			break
		}
	}
	if line["method"] != "GET" || line["path"] != "/v1/extensions" || line["status"] != float64(200) || line["duration_ms"] == nil {
		t.Fatalf("request log line: %v", line)
	}
	if strings.Contains(e.logs.String(), adminKey) || strings.Contains(e.logs.String(), "secretive") {
		t.Fatal("log holds the key or the query string")
	}
}
