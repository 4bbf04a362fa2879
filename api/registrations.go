package api

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// Registration is a phone registered to an extension.
type Registration struct {
	ExtensionID  string    `json:"extension_id"`
	SIPUsername  string    `json:"sip_username"`
	Contact      string    `json:"contact" example:"sip:1001@192.0.2.10:5062"`
	Source       string    `json:"source_address" example:"198.51.100.7:41234" doc:"Where the REGISTER came from; calls are sent here."`
	Transport    string    `json:"transport" enum:"UDP,TCP"`
	UserAgent    string    `json:"user_agent"`
	RegisteredAt time.Time `json:"registered_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

type registrationList struct {
	Body struct {
		Items []Registration `json:"items" nullable:"false"`
	}
}

// Ban is a source address refused after repeated SIP authentication failures
// or a flood of requests. Bans survive a restart.
type Ban struct {
	IP       string    `json:"ip" example:"203.0.113.9"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Failures int       `json:"failures"`
	Reason   string    `json:"reason" enum:"auth_failures,flood" doc:"Why the address was banned: repeated authentication failures, or a flood of requests."`
}

type banList struct {
	Body struct {
		Items []Ban `json:"items" nullable:"false"`
	}
}

func toRegistrations(list []core.Registration) []Registration {
	out := make([]Registration, len(list))
	for i, r := range list {
		out[i] = Registration{ExtensionID: string(r.ExtensionID), SIPUsername: r.Username, Contact: r.Contact,
			Source: r.Source, Transport: r.Transport, UserAgent: r.UserAgent, RegisteredAt: r.RegisteredAt, ExpiresAt: r.ExpiresAt}
	}
	return out
}

func registerSIPState(a huma.API, s *server) {
	huma.Register(a, huma.Operation{
		OperationID: "list-registrations",
		Method:      http.MethodGet,
		Path:        "/v1/registrations",
		Summary:     "List registered phones",
		Description: "Every live registration. A member key sees only its own extension's.",
		Tags:        []string{"Registrations"},
	}, func(ctx context.Context, _ *struct{}) (*registrationList, error) {
		ext := core.ExtensionID("")
		if k := principal(ctx); k != nil && k.Role == core.RoleMember {
			ext = k.ExtensionID
		}
		out := &registrationList{}
		out.Body.Items = toRegistrations(s.SIP.Registrations(ext))
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-extension-registrations",
		Method:      http.MethodGet,
		Path:        "/v1/extensions/{id}/registrations",
		Summary:     "List the phones registered to an extension",
		Description: "Every live registration of the extension. A member key may list only its own extension's.",
		Tags:        []string{"Registrations"},
		Errors:      []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *ExtensionIDParam) (*registrationList, error) {
		id := core.ExtensionID(in.ID)
		if err := ownExtension(ctx, id); err != nil {
			return nil, err
		}
		if _, err := s.Extensions.Repo.GetExtension(ctx, id); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		out := &registrationList{}
		out.Body.Items = toRegistrations(s.SIP.Registrations(id))
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-bans",
		Method:      http.MethodGet,
		Path:        "/v1/security/bans",
		Summary:     "List banned addresses",
		Description: "Addresses refused after repeated SIP authentication failures or a flood of requests, with the reason. Bans survive a restart; addresses in the allow-list or a trunk's networks are never banned. Admin keys only.",
		Tags:        []string{"Security"},
		Errors:      []int{http.StatusForbidden},
	}, func(ctx context.Context, _ *struct{}) (*banList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		out := &banList{}
		out.Body.Items = []Ban{}
		for _, b := range s.SIP.Bans() {
			out.Body.Items = append(out.Body.Items, Ban{IP: b.IP.String(), Since: b.Since, Until: b.Until, Failures: b.Failures, Reason: b.Reason})
		}
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID:   "delete-ban",
		Method:        http.MethodDelete,
		Path:          "/v1/security/bans/{ip}",
		Summary:       "Lift a ban",
		Description:   "Lifts the ban at once and deletes it from the store.",
		Tags:          []string{"Security"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IP string `path:"ip" example:"203.0.113.9"`
	}) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(in.IP)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: "path.ip", Message: "must be an IP address", Value: in.IP})
		}
		ok, err := s.SIP.Unban(ctx, ip.Unmap())
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ok {
			return nil, huma.Error404NotFound("no ban on " + ip.String())
		}
		return nil, nil
	})
}
