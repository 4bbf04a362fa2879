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

// writeProblem writes a problem+json response outside huma (middleware).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	b, _ := jsonMarshal(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
	_, _ = w.Write(b)
}
