package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// problem maps a core error onto an HTTP problem. loc is where the fields of a
// validation error live ("body" or "query"). Errors that are not part of the
// vocabulary are logged here, once, and answered 500 without detail.
func (s *server) problem(ctx context.Context, err error, loc string) error {
	var ve core.ValidationError
	var fe *core.FieldError
	var ce *core.ConflictError
	switch {
	case errors.As(err, &ve):
		details := make([]error, len(ve))
		for i, f := range ve {
			details[i] = &huma.ErrorDetail{Location: location(loc, f.Field), Message: f.Message, Value: f.Value}
		}
		return huma.Error422UnprocessableEntity("validation failed", details...)
	case errors.As(err, &fe):
		return huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: location(loc, fe.Field), Message: fe.Message, Value: fe.Value})
	case errors.As(err, &ce):
		return huma.Error409Conflict(ce.Error(), &huma.ErrorDetail{Location: "body." + ce.Field, Message: "already taken", Value: ce.Value})
	case errors.Is(err, core.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, core.ErrConflict):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, core.ErrPrecondition):
		return huma.Error412PreconditionFailed(err.Error())
	case errors.Is(err, core.ErrForbidden):
		return huma.Error403Forbidden(err.Error())
	case errors.Is(err, core.ErrUnauthorized):
		return huma.Error401Unauthorized(err.Error())
	case errors.Is(err, core.ErrInvalid):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, core.ErrBusy), errors.Is(err, core.ErrUnavailable):
		return huma.Error503ServiceUnavailable(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "client closed request")
	}
	s.Logger.ErrorContext(ctx, "request failed", "error", err, "request_id", requestID(ctx))
	return huma.Error500InternalServerError(http.StatusText(http.StatusInternalServerError))
}

func location(loc, field string) string {
	if field == "" {
		return loc
	}
	return loc + "." + field
}

// problemType is the type of every problem Dialtone answers: RFC 9457 §4.2.1,
// the status code and its title say what went wrong.
const problemType = "about:blank"

// writeProblem writes a problem+json response outside huma (middleware). Its
// instance is the request id set by logRequests.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	b, _ := jsonMarshal(&huma.ErrorModel{Type: problemType, Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: w.Header().Get("X-Request-Id")})
	_, _ = w.Write(b)
}

// problemDetails is a huma transformer giving every problem huma writes its
// type and, as instance, the request id (the X-Request-Id response header).
func problemDetails(ctx huma.Context, _ string, v any) (any, error) {
	if em, ok := v.(*huma.ErrorModel); ok {
		if em.Type == "" {
			em.Type = problemType
		}
		if em.Instance == "" {
			em.Instance = requestID(ctx.Context())
		}
	}
	return v, nil
}

// problemFallback answers requests no operation serves with problem+json: 404
// for an unknown path, 405 (with the Allow header the mux sets) for a method
// the path does not have.
func problemFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&problemWriter{ResponseWriter: w, path: r.URL.Path, method: r.Method}, r)
	})
}

// problemWriter turns the mux's plain-text 404 and 405 into problems.
type problemWriter struct {
	http.ResponseWriter
	path, method string
	wrote        bool
}

func (w *problemWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.Header()
	h.Del("Content-Type")
	h.Del("X-Content-Type-Options")
	switch code {
	case http.StatusNotFound:
		writeProblem(w.ResponseWriter, code, "no operation at "+w.path)
	case http.StatusMethodNotAllowed:
		writeProblem(w.ResponseWriter, code, w.method+" is not allowed on "+w.path+"; allowed: "+h.Get("Allow"))
	default:
		writeProblem(w.ResponseWriter, code, http.StatusText(code))
	}
}

// Write drops the mux's plain-text body: the problem is already written.
func (w *problemWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}
