package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/store"
)

// newSecurityEnv serves the API with a real SIP front (not serving SIP) whose
// state is kept in the test database.
func newSecurityEnv(t *testing.T) (*env, *dsip.Server) {
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
	log := slog.New(slog.DiscardHandler)
	srv, err := dsip.Listen(dsip.Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41000, RTPMax: 41100}, log, db, db, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Restore(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	logs := &syncBuffer{}
	h := api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db}, APIKeys: keys, Idempotency: db, DB: db, SIP: srv, Allowlist: db,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &env{t: t, url: hs.URL, logs: logs, db: db}, srv
}

func storedBans(t *testing.T, db *store.DB) []string {
	t.Helper()
	bans, err := db.LoadBans(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bans {
		out = append(out, b.IP.String())
	}
	return out
}

func TestSecurityRoutes(t *testing.T) {
	e, srv := newSecurityEnv(t)
	ip := netip.MustParseAddr
	srv.Guard.BanNow(ip("203.0.113.7"), auth.BanFlood)
	srv.Guard.BanNow(ip("203.0.113.8"), auth.BanFlood)
	srv.Guard.BanNow(ip("203.0.113.9"), auth.BanFlood)
	if err := srv.Guard.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ext := e.createExtension("1001")
	r := e.do("POST", "/v1/api-keys", adminKey, map[string]any{"name": "member", "role": "member", "extension_id": ext["id"]})
	if r.status != 201 {
		t.Fatalf("member key: %d %s", r.status, r.body)
	}
	member := r.json(t)["secret"].(string)

	bans := e.do("GET", "/v1/security/bans", adminKey, nil)
	if bans.status != 200 || strings.Count(string(bans.body), `"reason":"flood"`) != 3 {
		t.Fatalf("bans: %d %s", bans.status, bans.body)
	}

	var created string
	steps := []struct {
		name, method, path, key string
		body                    any
		status                  int
		check                   func(t *testing.T, r resp)
	}{
		{"member cannot list bans", "GET", "/v1/security/bans", member, nil, 403, nil},
		{"member cannot list the allow-list", "GET", "/v1/security/allowlist", member, nil, 403, nil},
		{"member cannot allow", "POST", "/v1/security/allowlist", member, map[string]any{"cidr": "192.0.2.0/24"}, 403, nil},
		{"member cannot remove", "DELETE", "/v1/security/allowlist/alw_x", member, nil, 403, nil},
		{"bad cidr names the field", "POST", "/v1/security/allowlist", adminKey, map[string]any{"cidr": "203.0.113.0/99"}, 422,
			func(t *testing.T, r resp) {
				if !strings.Contains(string(r.body), `"location":"body.cidr"`) {
					t.Fatalf("problem does not name body.cidr: %s", r.body)
				}
			}},
		{"an address alone is a /32 and lifts its ban", "POST", "/v1/security/allowlist", adminKey,
			map[string]any{"cidr": "203.0.113.7", "description": "office"}, 201, func(t *testing.T, r resp) {
				m := r.json(t)
				created, _ = m["id"].(string)
				if !strings.HasPrefix(created, "alw_") || m["cidr"] != "203.0.113.7/32" || m["description"] != "office" {
					t.Fatalf("entry %s", r.body)
				}
				if srv.Guard.Banned(ip("203.0.113.7")) || !srv.Guard.Allowed(ip("203.0.113.7")) {
					t.Fatal("ban not lifted")
				}
				if got := storedBans(t, e.db); len(got) != 2 {
					t.Fatalf("stored bans %v", got)
				}
			}},
		{"duplicate", "POST", "/v1/security/allowlist", adminKey, map[string]any{"cidr": "203.0.113.7/32"}, 409, nil},
		{"a network lifts the bans it covers", "POST", "/v1/security/allowlist", adminKey, map[string]any{"cidr": "203.0.113.8/31"}, 201,
			func(t *testing.T, r resp) {
				if r.json(t)["cidr"] != "203.0.113.8/31" || srv.Guard.Banned(ip("203.0.113.9")) {
					t.Fatalf("entry %s; 203.0.113.9 banned %v", r.body, srv.Guard.Banned(ip("203.0.113.9")))
				}
				if got := storedBans(t, e.db); len(got) != 0 {
					t.Fatalf("stored bans %v", got)
				}
			}},
		{"IPv6 address is a /128", "POST", "/v1/security/allowlist", adminKey, map[string]any{"cidr": "2001:db8::1"}, 201,
			func(t *testing.T, r resp) {
				if r.json(t)["cidr"] != "2001:db8::1/128" {
					t.Fatalf("entry %s", r.body)
				}
			}},
		{"first page", "GET", "/v1/security/allowlist?limit=2", adminKey, nil, 200, func(t *testing.T, r resp) {
			m := r.json(t)
			next, _ := m["next_cursor"].(string)
			if len(m["items"].([]any)) != 2 || next == "" {
				t.Fatalf("page %s", r.body)
			}
			last := e.do("GET", "/v1/security/allowlist?limit=2&cursor="+next, adminKey, nil).json(t)
			items := last["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["cidr"] != "2001:db8::1/128" || last["next_cursor"] != nil {
				t.Fatalf("last page %v", last)
			}
		}},
		{"bad cursor", "GET", "/v1/security/allowlist?cursor=zzz", adminKey, nil, 422, nil},
		{"remove", "DELETE", "/v1/security/allowlist/{created}", adminKey, nil, 204, func(t *testing.T, r resp) {
			if srv.Guard.Allowed(ip("203.0.113.7")) {
				t.Fatal("a removed network is still allowed")
			}
		}},
		{"remove again", "DELETE", "/v1/security/allowlist/{created}", adminKey, nil, 404, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do(s.method, strings.ReplaceAll(s.path, "{created}", created), s.key, s.body)
			if r.status != s.status {
				t.Fatalf("status %d, want %d: %s", r.status, s.status, r.body)
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
	}
}

func TestLiftBanDeletesItFromTheStore(t *testing.T) {
	e, srv := newSecurityEnv(t)
	srv.Guard.BanNow(netip.MustParseAddr("198.51.100.4"), auth.BanFlood)
	for range auth.DefaultGuardConfig().MaxFailures {
		srv.Guard.Fail(netip.MustParseAddr("198.51.100.5"))
	}
	if err := srv.Guard.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := e.do("GET", "/v1/security/bans", adminKey, nil)
	if !strings.Contains(string(list.body), `"reason":"auth_failures"`) || !strings.Contains(string(list.body), `"reason":"flood"`) {
		t.Fatalf("bans %s", list.body)
	}
	tests := []struct {
		name, ip string
		status   int
		stored   int
	}{
		{"lift", "198.51.100.4", 204, 1},
		{"lift again", "198.51.100.4", 404, 1},
		{"not an address", "banana", 422, 1},
		{"lift the other", "198.51.100.5", 204, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("DELETE", "/v1/security/bans/"+tt.ip, adminKey, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := storedBans(t, e.db); len(got) != tt.stored {
				t.Fatalf("stored bans %v, want %d", got, tt.stored)
			}
		})
	}
}
