package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// MetricsPath is where the Prometheus exposition is served. It is not a JSON
// operation and is not in the OpenAPI document.
const MetricsPath = "/metrics"

// RequestObserver is told about every HTTP request once it is answered: its
// route pattern ("unmatched" when no route matched, never the raw path), its
// method, status and duration.
type RequestObserver interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// MetricsConfig is the API's part in monitoring.
type MetricsConfig struct {
	// Handler serves GET /metrics; nil leaves the path out.
	Handler http.Handler
	// Open serves /metrics without an API key, for an API bound to loopback
	// only; otherwise it takes an admin key.
	Open bool
	// Requests, when set, is told about every request.
	Requests RequestObserver
}

// instrument is the outermost middleware: it serves /metrics and reports
// every request, 401s and 429s included, by the pattern mux routes it to.
func (s *server) instrument(next http.Handler, mux *http.ServeMux) http.Handler {
	exposition := s.metricsHandler()
	if exposition == nil && s.Metrics.Requests == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var route string
		if exposition != nil && r.URL.Path == MetricsPath {
			route = MetricsPath
			exposition.ServeHTTP(sw, r)
		} else {
			route = routeOf(mux, r)
			next.ServeHTTP(sw, r)
		}
		if s.Metrics.Requests == nil {
			return
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.Metrics.Requests.ObserveRequest(route, methodLabel(r.Method), sw.status, time.Since(start))
	})
}

// metricsHandler is the exposition behind its checks: GET or HEAD only, and
// an admin key unless the metrics are open.
func (s *server) metricsHandler() http.Handler {
	h := s.Metrics.Handler
	if h == nil {
		return nil
	}
	methods := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, http.StatusMethodNotAllowed, "use GET on "+MetricsPath)
			return
		}
		h.ServeHTTP(w, r)
	})
	if s.Metrics.Open {
		return methods
	}
	return s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := principal(r.Context()); k == nil || k.Role != core.RoleAdmin {
			writeProblem(w, http.StatusForbidden, "metrics need an admin key")
			return
		}
		methods.ServeHTTP(w, r)
	}))
}

// routeOf is the path pattern of the route mux serves r with, or "unmatched".
func routeOf(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" {
		return "unmatched"
	}
	return pattern
}

// methodLabel keeps the method label to the methods the API knows.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
