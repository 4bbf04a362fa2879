package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// AllowlistEntry is a network whose addresses are never banned.
type AllowlistEntry struct {
	ID          string    `json:"id" example:"alw_0m3k9x2c8v1z4q7d"`
	CIDR        string    `json:"cidr" example:"198.51.100.0/24"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// AllowlistInput is the body of an allow-list entry to create.
type AllowlistInput struct {
	CIDR        string `json:"cidr" maxLength:"50" example:"198.51.100.0/24" doc:"A network; an address alone means itself (/32 or /128)."`
	Description string `json:"description,omitempty" maxLength:"200"`
}

type allowlistList struct {
	Body struct {
		Items      []AllowlistEntry `json:"items" nullable:"false"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}
}

func toAllowlistEntry(e *core.AllowlistEntry) AllowlistEntry {
	return AllowlistEntry{ID: string(e.ID), CIDR: e.Network.String(), Description: e.Description, CreatedAt: e.CreatedAt}
}

// allowlistChanged has the SIP front apply the allow-list at once.
func (s *server) allowlistChanged(ctx context.Context) error {
	if s.SIP == nil {
		return nil
	}
	return s.SIP.AllowlistChanged(ctx)
}

func registerSecurity(a huma.API, s *server) {
	tags := []string{"Security"}
	huma.Register(a, huma.Operation{
		OperationID: "list-allowlist", Method: http.MethodGet, Path: "/v1/security/allowlist",
		Summary:     "List allowed networks",
		Description: "Networks whose addresses are never banned, oldest first. Trunks' networks are allowed as well without being listed here. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *ListParams) (*allowlistList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.Allowlist.ListAllowlist(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &allowlistList{}
		out.Body.Items = make([]AllowlistEntry, 0, len(page.Items))
		for _, e := range page.Items {
			out.Body.Items = append(out.Body.Items, toAllowlistEntry(e))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "create-allowlist-entry", Method: http.MethodPost, Path: "/v1/security/allowlist",
		Summary:     "Allow a network",
		Description: "Addresses in the network are never banned from now on, and bans on them are lifted. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body AllowlistInput
	}) (*struct{ Body AllowlistEntry }, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		network, err := core.ParseNetwork(in.Body.CIDR)
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		e := &core.AllowlistEntry{ID: core.AllowlistID(core.NewID(core.PrefixAllowlist)), Network: network,
			Description: strings.TrimSpace(in.Body.Description), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := e.Validate(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.Allowlist.CreateAllowlistEntry(ctx, e); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.allowlistChanged(ctx); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &struct{ Body AllowlistEntry }{Body: toAllowlistEntry(e)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-allowlist-entry", Method: http.MethodDelete, Path: "/v1/security/allowlist/{id}",
		Summary:     "Remove an allowed network",
		Description: "Addresses in the network may be banned again from now on. Admin keys only.",
		Tags:        tags, DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" doc:"Allow-list entry id."`
	}) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Allowlist.DeleteAllowlistEntry(ctx, core.AllowlistID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if err := s.allowlistChanged(ctx); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
