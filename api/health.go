package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

type healthOutput struct {
	Body struct {
		Status string `json:"status" example:"ok" doc:"ok when the check passed"`
	}
}

func registerHealth(a huma.API, s *server) {
	huma.Register(a, huma.Operation{
		OperationID: "get-healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness check",
		Description: "Answers 200 while the process is running. Needs no API key.",
		Tags:        []string{"Health"},
		Security:    []map[string][]string{},
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness check",
		Description: "Answers 200 when the database answers a query and the SIP listeners (UDP and TCP) are up, 503 otherwise. Needs no API key.",
		Tags:        []string{"Health"},
		Security:    []map[string][]string{},
		Errors:      []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := s.DB.Ping(ctx); err != nil {
			return nil, huma.Error503ServiceUnavailable("database does not answer")
		}
		if s.SIP != nil {
			if err := s.SIP.Ready(); err != nil {
				return nil, huma.Error503ServiceUnavailable(err.Error())
			}
		}
		out := &healthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
}
