package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS lets browser integrations on other origins call the API (Fetch
// standard, "CORS protocol"). It is off unless origins are configured; keys
// travel in the Authorization header, never in cookies, so credentials are
// not allowed.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Last-Event-ID"
	corsExposeHeaders = "ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After"
	corsMaxAge        = "600"
)

// CheckCORSOrigins validates --cors-origins: "*" alone, or exact origins
// such as https://crm.example.com or http://localhost:3000.
func CheckCORSOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			if len(origins) > 1 {
				return fmt.Errorf("cors origin * allows every origin and cannot be listed with others")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("cors origin %q: want scheme://host[:port], such as https://crm.example.com", o)
		}
	}
	return nil
}

// cors answers preflight requests from the allowed origins and marks their
// other responses readable by them. With no origins it changes nothing.
func cors(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	anyOrigin := false
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		if o == "*" {
			anyOrigin = true
		}
		allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
		ok := origin != "" && (anyOrigin || allowed[strings.ToLower(origin)])
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !ok {
				writeProblem(w, http.StatusForbidden, "origin "+origin+" is not allowed (--cors-origins)")
				return
			}
			setAllowOrigin(h, origin, anyOrigin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			setAllowOrigin(h, origin, anyOrigin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

func setAllowOrigin(h http.Header, origin string, anyOrigin bool) {
	if anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
}
