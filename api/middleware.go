package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// principal is the API key a request authenticated with.
func principal(ctx context.Context) *core.APIKey {
	k, _ := ctx.Value(keyPrincipal).(*core.APIKey)
	return k
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives each request an id and logs one line when it ends. Only
// the path is logged: never headers, query strings or bodies.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDRE.MatchString(id) {
			id = core.RandomToken(9)
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.Logger.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", id), slog.String("remote", r.RemoteAddr))
	})
}

// unauthenticatedPaths are served without an API key.
var unauthenticatedPaths = map[string]bool{"/healthz": true, "/readyz": true}

// authenticate requires a valid bearer key on everything but the health checks.
// A source address that presented too many wrong keys is answered 429 with
// Retry-After, without its key being looked at (authThrottle).
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unauthenticatedPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		src := throttleSource(r.RemoteAddr)
		if wait := s.throttle.blocked(src); wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeProblem(w, http.StatusTooManyRequests, fmt.Sprintf(
				"too many failed API authentications from this address: retry in %d s", secs))
			return
		}
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dialtone"`)
			writeProblem(w, http.StatusUnauthorized, "an API key is required: Authorization: Bearer <key>")
			return
		}
		k, err := s.APIKeys.Authenticate(r.Context(), secret)
		if err != nil {
			if err == core.ErrUnauthorized {
				if n, wait := s.throttle.fail(src); wait > 0 {
					s.Logger.WarnContext(r.Context(), "api authentication throttled", "security", true,
						"remote", r.RemoteAddr, "source", src.String(), "failures", n,
						"window_s", int(s.throttle.window/time.Second), "retry_after_s", int((wait+time.Second-1)/time.Second),
						"request_id", requestID(r.Context()))
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="dialtone", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "the API key is not valid")
				return
			}
			s.Logger.ErrorContext(r.Context(), "authenticate", "error", err, "request_id", requestID(r.Context()))
			writeProblem(w, http.StatusServiceUnavailable, "cannot check the API key now")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyPrincipal, k)))
	})
}

// Failed API authentications are throttled per source: an IPv4 address, or
// the /64 of an IPv6 address (one host's usual share). A source that presented
// authFailureLimit wrong keys within authFailureWindow gets 429 until the
// oldest of them is out of the window; even a valid key is refused then, since
// answering it would let the guessing go on at full speed. A request without
// a key is not a guess and is not counted. Sources are remembered in memory
// only, at most authThrottleSources of them; beyond that, new sources are not
// tracked until old ones expire.
const (
	authFailureLimit    = 10
	authFailureWindow   = time.Minute
	authThrottleSources = 10000
)

type authThrottle struct {
	now    func() time.Time
	limit  int
	window time.Duration
	max    int

	mu      sync.Mutex
	sources map[netip.Prefix][]time.Time // failures within the window, oldest first
}

func newAuthThrottle() *authThrottle {
	return &authThrottle{now: time.Now, limit: authFailureLimit, window: authFailureWindow,
		max: authThrottleSources, sources: map[netip.Prefix][]time.Time{}}
}

// throttleSource is the source a request is counted against.
func throttleSource(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// recent drops the failures of src that left the window. t.mu is held.
func (t *authThrottle) recent(src netip.Prefix, now time.Time) []time.Time {
	fails := t.sources[src]
	i := 0
	for i < len(fails) && now.Sub(fails[i]) >= t.window {
		i++
	}
	if i == len(fails) {
		delete(t.sources, src)
		return nil
	}
	fails = fails[i:]
	t.sources[src] = fails
	return fails
}

// blocked returns how long src must wait before its key is looked at again;
// zero when it may try now.
func (t *authThrottle) blocked(src netip.Prefix) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	fails := t.recent(src, now)
	if len(fails) < t.limit {
		return 0
	}
	return fails[len(fails)-t.limit].Add(t.window).Sub(now)
}

// fail records a wrong key from src. When this failure is the one that
// throttles src, it returns the failures in the window and the wait.
func (t *authThrottle) fail(src netip.Prefix) (int, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	fails := t.recent(src, now)
	if fails == nil && len(t.sources) >= t.max {
		for p := range t.sources {
			t.recent(p, now)
		}
		if len(t.sources) >= t.max {
			return 0, 0
		}
	}
	fails = append(fails, now)
	if len(fails) > t.limit {
		fails = fails[len(fails)-t.limit:]
	}
	t.sources[src] = fails
	if len(fails) < t.limit {
		return 0, 0
	}
	return len(fails), fails[0].Add(t.window).Sub(now)
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
