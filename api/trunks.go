package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// Trunk is a SIP trunk as the API shows it: never its password.
type Trunk struct {
	ID              string    `json:"id" example:"trk_0m3k9x2c8v1z4q7d"`
	Name            string    `json:"name"`
	Host            string    `json:"host"`
	Port            int       `json:"port"`
	Transport       string    `json:"transport" enum:"udp,tcp"`
	AuthMode        string    `json:"auth_mode" enum:"register,ip"`
	Username        string    `json:"username,omitempty"`
	PasswordSet     bool      `json:"password_set"`
	Realm           string    `json:"realm,omitempty"`
	RegisterExpires int       `json:"register_expires,omitempty"`
	AllowedCIDRs    []string  `json:"allowed_cidrs" nullable:"false"`
	OutboundProxy   string    `json:"outbound_proxy,omitempty"`
	FromUser        string    `json:"from_user,omitempty"`
	FromDomain      string    `json:"from_domain,omitempty"`
	DIDSource       string    `json:"did_source" enum:"request_uri,to"`
	Codecs          []string  `json:"codecs"`
	MaxChannels     int       `json:"max_channels"`
	Enabled         bool      `json:"enabled"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// TrunkCreate is the body of create. A register trunk needs username and
// password, an ip trunk allowed_cidrs.
type TrunkCreate struct {
	Name            *string  `json:"name,omitempty" maxLength:"100"`
	Host            *string  `json:"host,omitempty" maxLength:"253"`
	Port            *int     `json:"port,omitempty" minimum:"1" maximum:"65535" doc:"Default 5060."`
	Transport       *string  `json:"transport,omitempty" enum:"udp,tcp" doc:"Default udp."`
	AuthMode        *string  `json:"auth_mode,omitempty" enum:"register,ip"`
	Username        *string  `json:"username,omitempty" maxLength:"100"`
	Password        *string  `json:"password,omitempty" writeOnly:"true" maxLength:"128"`
	Realm           *string  `json:"realm,omitempty" maxLength:"253" doc:"When set, only a challenge for this realm is answered with the credentials; any other fails the attempt with trunk_auth_failed."`
	RegisterExpires *int     `json:"register_expires,omitempty" doc:"Seconds, 60 to 86400. Default 3600."`
	AllowedCIDRs    []string `json:"allowed_cidrs,omitempty" maxItems:"50"`
	OutboundProxy   *string  `json:"outbound_proxy,omitempty" maxLength:"253"`
	FromUser        *string  `json:"from_user,omitempty" maxLength:"100" doc:"User part of From in calls and REGISTER (REGISTER defaults to the username); when set, the caller ID goes in P-Asserted-Identity."`
	FromDomain      *string  `json:"from_domain,omitempty" maxLength:"253" doc:"Host part of From in calls and REGISTER; default the trunk host."`
	DIDSource       *string  `json:"did_source,omitempty" enum:"request_uri,to" doc:"Default request_uri."`
	Codecs          []string `json:"codecs,omitempty" maxItems:"2" doc:"Codecs offered to the trunk, in this order, and the only ones accepted from it. Default PCMU, PCMA."`
	MaxChannels     *int     `json:"max_channels,omitempty" minimum:"0" doc:"Calls at once on the trunk, in and out (an inbound call sent back out counts on both trunks): an outbound call beyond it goes to the route's next trunk. 0, the default, means no limit."`
	Enabled         *bool    `json:"enabled,omitempty" doc:"Default true."`
}

// TrunkPatch is the body of update, a merge patch: fields left out keep their value.
type TrunkPatch struct {
	Name            *string  `json:"name,omitempty" maxLength:"100"`
	Host            *string  `json:"host,omitempty" maxLength:"253"`
	Port            *int     `json:"port,omitempty" minimum:"1" maximum:"65535"`
	Transport       *string  `json:"transport,omitempty" enum:"udp,tcp"`
	AuthMode        *string  `json:"auth_mode,omitempty" enum:"register,ip"`
	Username        *string  `json:"username,omitempty" maxLength:"100"`
	Password        *string  `json:"password,omitempty" writeOnly:"true" maxLength:"128"`
	Realm           *string  `json:"realm,omitempty" maxLength:"253" doc:"When set, only a challenge for this realm is answered with the credentials; any other fails the attempt with trunk_auth_failed."`
	RegisterExpires *int     `json:"register_expires,omitempty"`
	AllowedCIDRs    []string `json:"allowed_cidrs,omitempty" maxItems:"50"`
	OutboundProxy   *string  `json:"outbound_proxy,omitempty" maxLength:"253"`
	FromUser        *string  `json:"from_user,omitempty" maxLength:"100" doc:"User part of From in calls and REGISTER (REGISTER defaults to the username); when set, the caller ID goes in P-Asserted-Identity."`
	FromDomain      *string  `json:"from_domain,omitempty" maxLength:"253" doc:"Host part of From in calls and REGISTER; default the trunk host."`
	DIDSource       *string  `json:"did_source,omitempty" enum:"request_uri,to"`
	Codecs          []string `json:"codecs,omitempty" maxItems:"2" doc:"Codecs offered to the trunk, in this order, and the only ones accepted from it."`
	MaxChannels     *int     `json:"max_channels,omitempty" minimum:"0"`
	Enabled         *bool    `json:"enabled,omitempty"`
}

func (in *TrunkPatch) apply(t *core.Trunk) {
	str := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	num := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	str(&t.Name, in.Name)
	str(&t.Host, in.Host)
	num(&t.Port, in.Port)
	str(&t.Transport, in.Transport)
	str(&t.AuthMode, in.AuthMode)
	str(&t.Username, in.Username)
	str(&t.Realm, in.Realm)
	num(&t.RegisterExpires, in.RegisterExpires)
	str(&t.OutboundProxy, in.OutboundProxy)
	str(&t.FromUser, in.FromUser)
	str(&t.FromDomain, in.FromDomain)
	str(&t.DIDSource, in.DIDSource)
	num(&t.MaxChannels, in.MaxChannels)
	if in.Password != nil {
		t.Password = core.Secret(*in.Password)
	}
	if in.AllowedCIDRs != nil {
		t.AllowedCIDRs = in.AllowedCIDRs
	}
	if in.Codecs != nil {
		t.Codecs = in.Codecs
	}
	if in.Enabled != nil {
		t.Enabled = *in.Enabled
	}
}

func toTrunk(t *core.Trunk) Trunk {
	cidrs := t.AllowedCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	return Trunk{ID: string(t.ID), Name: t.Name, Host: t.Host, Port: t.Port, Transport: t.Transport, AuthMode: t.AuthMode,
		Username: t.Username, PasswordSet: t.Password != "", Realm: t.Realm, RegisterExpires: t.RegisterExpires,
		AllowedCIDRs: cidrs, OutboundProxy: t.OutboundProxy, FromUser: t.FromUser, FromDomain: t.FromDomain,
		DIDSource: t.DIDSource, Codecs: t.Codecs, MaxChannels: t.MaxChannels, Enabled: t.Enabled,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// TrunkStatus is the live state of a trunk.
type TrunkStatus struct {
	TrunkID         string     `json:"trunk_id"`
	Registration    string     `json:"registration" enum:"registered,registering,failed,not_applicable,unknown"`
	RegisteredUntil *time.Time `json:"registered_until,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	LastErrorCode   int        `json:"last_error_code,omitempty" doc:"SIP status of the last failure (401, 403, 503...); 0 when nothing answered."`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
	Reachable       bool       `json:"reachable" doc:"Whether the last OPTIONS was answered."`
	OptionsRTTMs    float64    `json:"options_rtt_ms" doc:"Round trip of the last answered OPTIONS."`
	LastOptionsAt   *time.Time `json:"last_options_at,omitempty"`
	ActiveChannels  int        `json:"active_channels"`
}

func (s *server) trunksChanged() {
	if s.SIP != nil {
		s.SIP.TrunksChanged()
	}
}

type trunkOutput struct {
	ETag string `header:"ETag"`
	Body Trunk
}

type trunkCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Trunk
}

type trunkList struct {
	Body struct {
		Items      []Trunk `json:"items" nullable:"false"`
		NextCursor string  `json:"next_cursor,omitempty"`
	}
}

// TrunkIDParam is the {id} path parameter of trunk routes.
type TrunkIDParam struct {
	ID string `path:"id" doc:"Trunk id."`
}

func registerTrunks(a huma.API, s *server) {
	tags := []string{"Trunks"}
	huma.Register(a, huma.Operation{
		OperationID: "create-trunk", Method: http.MethodPost, Path: "/v1/trunks", Summary: "Create a SIP trunk",
		Description: "auth_mode register: the PBX registers with username/password; auth_mode ip: inbound calls are accepted from allowed_cidrs. The password is write-only. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body TrunkCreate
	}) (*trunkCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		t := &core.Trunk{ID: core.TrunkID(core.NewID(core.PrefixTrunk)), Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		body := TrunkPatch(in.Body)
		body.apply(t)
		if err := t.Validate(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.Trunks.CreateTrunk(ctx, t); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		s.trunksChanged()
		return &trunkCreated{ETag: etag(t.Version), Location: "/v1/trunks/" + string(t.ID), Body: toTrunk(t)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-trunks", Method: http.MethodGet, Path: "/v1/trunks", Summary: "List trunks",
		Description: "SIP trunks, keyset-paginated; passwords are never shown. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, in *ListParams) (*trunkList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.Trunks.ListTrunks(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &trunkList{}
		out.Body.Items = make([]Trunk, 0, len(page.Items))
		for _, t := range page.Items {
			out.Body.Items = append(out.Body.Items, toTrunk(t))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-trunk", Method: http.MethodGet, Path: "/v1/trunks/{id}", Summary: "Get a trunk",
		Description: "One trunk without its password, with its ETag for a later If-Match. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *TrunkIDParam) (*trunkOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		t, err := s.Trunks.GetTrunk(ctx, core.TrunkID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &trunkOutput{ETag: etag(t.Version), Body: toTrunk(t)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-trunk", Method: http.MethodPatch, Path: "/v1/trunks/{id}", Summary: "Change a trunk",
		Description: "Merges the given fields over the trunk (If-Match honoured). Takes effect on the next call.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		TrunkIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the trunk changed since."`
		Body    TrunkPatch
	}) (*trunkOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		t, err := s.Trunks.GetTrunk(ctx, core.TrunkID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, t.Version) {
			return nil, huma.Error412PreconditionFailed("the trunk changed since the ETag in If-Match was read")
		}
		in.Body.apply(t)
		if err := t.Validate(); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		t.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.Trunks.UpdateTrunk(ctx, t, t.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		s.trunksChanged()
		return &trunkOutput{ETag: etag(t.Version), Body: toTrunk(t)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-trunk-status", Method: http.MethodGet, Path: "/v1/trunks/{id}/status", Summary: "Live state of a trunk",
		Description: "Registration state (register trunks), the last error with its SIP status, the last OPTIONS round trip, active channels.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *TrunkIDParam) (*struct{ Body TrunkStatus }, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if _, err := s.Trunks.GetTrunk(ctx, core.TrunkID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		st, ok := s.SIP.TrunkStatus(core.TrunkID(in.ID))
		out := TrunkStatus{TrunkID: in.ID, Registration: "unknown", ActiveChannels: st.ActiveChannels}
		if ok {
			out.Registration, out.RegisteredUntil, out.LastError, out.LastErrorCode = st.Registration, st.RegisteredUntil, st.LastError, st.LastErrorCode
			out.LastErrorAt, out.Reachable, out.LastOptionsAt = st.LastErrorAt, st.Reachable, st.LastOptionsAt
			out.OptionsRTTMs = float64(st.LastOptionsRTT.Microseconds()) / 1000
		}
		return &struct{ Body TrunkStatus }{Body: out}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "delete-trunk", Method: http.MethodDelete, Path: "/v1/trunks/{id}", Summary: "Delete a trunk",
		Description: "Refused with 409, naming them, while numbers use the trunk.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *TrunkIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Trunks.DeleteTrunk(ctx, core.TrunkID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		s.trunksChanged()
		return nil, nil
	})
}
