package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"
)

// IdempotencyTTL is how long the first response to an Idempotency-Key is kept.
const IdempotencyTTL = 24 * time.Hour

const maxIdempotentBody = 1 << 20

// idempotentBodyLimit is the largest body a POST with Idempotency-Key may
// carry: an audio upload's limit for prompts, 1 MB for everything else.
func idempotentBodyLimit(r *http.Request) int64 {
	if r.URL.Path == "/v1/prompts" {
		return uploadLimitFor(r.Header.Get("Content-Type"))
	}
	return maxIdempotentBody
}

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// idempotency makes a POST carrying Idempotency-Key safe to retry: the same key
// with the same request returns the first response again; the same key with a
// different request is refused with 422. Keys are scoped to the API key.
func (s *server) idempotency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		k := principal(r.Context())
		if r.Method != http.MethodPost || key == "" || k == nil {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 || !printable(key) {
			writeProblem(w, http.StatusBadRequest, "Idempotency-Key must be 1 to 255 printable characters")
			return
		}
		limit := idempotentBodyLimit(r)
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "cannot read the request body")
			return
		}
		if int64(len(body)) > limit {
			writeProblem(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.New()
		sum.Write([]byte(r.Method + " " + r.URL.RequestURI() + "\n"))
		sum.Write(body)
		hash := hex.EncodeToString(sum.Sum(nil))
		scope := string(k.ID)

		ctx := r.Context()
		rec, err := s.Idempotency.ClaimIdempotencyKey(ctx, scope, key, hash, IdempotencyTTL)
		if err != nil {
			s.Logger.ErrorContext(ctx, "idempotency claim", "error", err, "request_id", requestID(ctx))
			writeProblem(w, http.StatusServiceUnavailable, "cannot record the Idempotency-Key now")
			return
		}
		switch {
		case rec == nil:
		case rec.RequestHash != hash:
			writeProblem(w, http.StatusUnprocessableEntity, "this Idempotency-Key was already used with a different request")
			return
		case rec.Status == 0:
			writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still being handled")
			return
		default:
			for name, v := range rec.Headers {
				w.Header().Set(name, v)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		}

		cw := &captureWriter{ResponseWriter: w}
		defer func() {
			// A panic or a server error leaves the key free for a retry.
			if p := recover(); p != nil || cw.status == 0 || cw.status >= 500 {
				_ = s.Idempotency.ReleaseIdempotencyKey(ctx, scope, key)
				if p != nil {
					panic(p)
				}
				return
			}
			headers := map[string]string{}
			for _, name := range replayedHeaders {
				if v := w.Header().Get(name); v != "" {
					headers[name] = v
				}
			}
			if err := s.Idempotency.CompleteIdempotencyKey(ctx, scope, key, cw.status, headers, cw.body.Bytes()); err != nil {
				s.Logger.ErrorContext(ctx, "idempotency complete", "error", err, "request_id", requestID(ctx))
				_ = s.Idempotency.ReleaseIdempotencyKey(ctx, scope, key)
			}
		}()
		next.ServeHTTP(cw, r)
	})
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// captureWriter copies the response it passes on.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
