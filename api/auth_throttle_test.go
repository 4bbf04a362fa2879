package api_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/api"
)

// TestAuthThrottle: ten wrong keys within a minute from one source get that
// source 429 with Retry-After, logged once as a security event; other sources,
// the health checks and requests without a key are not affected.
func TestAuthThrottle(t *testing.T) {
	d, _, logs := fullDeps(t)
	h := api.New(d)
	do := func(remote, path, key string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = remote
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const wrong = "wrong-key-0123456789abcdef"
	attacker := "203.0.113.5:40000"
	for i := range 10 {
		if w := do(attacker, "/v1/extensions", wrong+strconv.Itoa(i)); w.Code != 401 {
			t.Fatalf("failure %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	tests := []struct {
		name, remote, path, key string
		status                  int
	}{
		{"throttled wrong key", attacker, "/v1/extensions", wrong, 429},
		{"throttled other port", "203.0.113.5:40001", "/v1/extensions", wrong, 429},
		{"throttled valid key", attacker, "/v1/extensions", adminKey, 429},
		{"throttled without key", attacker, "/v1/extensions", "", 429},
		{"health checks served", attacker, "/healthz", "", 200},
		{"other source valid key", "203.0.113.6:40000", "/v1/extensions", adminKey, 200},
		{"other source wrong key", "203.0.113.6:40000", "/v1/extensions", wrong, 401},
		{"ipv4-mapped attacker", "[::ffff:203.0.113.5]:40000", "/v1/extensions", adminKey, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(tt.remote, tt.path, tt.key)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != 429 {
				return
			}
			secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
			if err != nil || secs < 1 || secs > 60 {
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	t.Run("ipv6 counted by /64", func(t *testing.T) {
		for i := range 10 {
			remote := "[2001:db8::" + strconv.Itoa(i+1) + "]:5000"
			if w := do(remote, "/v1/extensions", wrong); w.Code != 401 {
				t.Fatalf("failure %d: %d", i+1, w.Code)
			}
		}
		if w := do("[2001:db8::ffff]:5000", "/v1/extensions", adminKey); w.Code != 429 {
			t.Fatalf("same /64: %d", w.Code)
		}
		if w := do("[2001:db8:0:1::1]:5000", "/v1/extensions", adminKey); w.Code != 200 {
			t.Fatalf("next /64: %d", w.Code)
		}
	})
	t.Run("requests without a key are not guesses", func(t *testing.T) {
		for range 30 {
			if w := do("198.51.100.9:1000", "/v1/extensions", ""); w.Code != 401 {
				t.Fatalf("no key: %d", w.Code)
			}
		}
		if w := do("198.51.100.9:1000", "/v1/extensions", adminKey); w.Code != 200 {
			t.Fatalf("valid key after keyless requests: %d", w.Code)
		}
	})
	log := logs.String()
	if n := strings.Count(log, `"msg":"api authentication throttled"`); n != 2 {
		t.Fatalf("%d throttle events logged, want 2 (one per source):\n%s", n, log)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "api authentication throttled") &&
			(!strings.Contains(line, `"security":true`) || !strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, wrong)) {
			t.Fatalf("throttle event: %s", line)
		}
	}
}
