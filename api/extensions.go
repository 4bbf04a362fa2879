package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// Extension is an extension as the API shows it. Secrets never appear here.
type Extension struct {
	ID                 string    `json:"id" example:"ext_5f3kq9w2m8c1xz7d" doc:"Opaque identifier."`
	Number             string    `json:"number" example:"1001" doc:"Internal number, 2 to 6 digits, unique."`
	Name               string    `json:"name" example:"Ann Lee"`
	Email              string    `json:"email" example:"ann@example.com"`
	Mobile             string    `json:"mobile" example:"+14155550100" doc:"E.164 mobile number, or empty."`
	OutboundCallerID   string    `json:"outbound_caller_id" example:"+14155550199" doc:"E.164 caller ID for external calls, or empty."`
	Language           string    `json:"language" example:"en" doc:"BCP 47 language tag for prompts."`
	Timezone           string    `json:"timezone" example:"America/New_York" doc:"IANA time zone."`
	Enabled            bool      `json:"enabled" doc:"A disabled extension cannot register or call."`
	RingTimeoutSeconds int       `json:"ring_timeout_seconds" example:"30"`
	VoicemailEnabled   bool      `json:"voicemail_enabled"`
	VoicemailPINSet    bool      `json:"voicemail_pin_set" doc:"Whether a voicemail PIN is set; the PIN itself is never shown."`
	SIPUsername        string    `json:"sip_username" example:"1001" doc:"Digest user name; defaults to the number."`
	HideFromDirectory  bool      `json:"hide_from_directory"`
	CallPermissions    []string  `json:"call_permissions" nullable:"false" doc:"Classes of outside numbers the extension may call: internal, local, national, mobile, international, premium."`
	EmergencyCallback  string    `json:"emergency_callback_number" doc:"E.164 presented on emergency calls."`
	NamePromptID       string    `json:"name_prompt_id,omitempty" doc:"The prompt with the extension's recorded name, which dial by name plays; without one its number is read."`
	NoAnswerCallPlanID string    `json:"no_answer_call_plan_id,omitempty" doc:"The call plan calls go to when the extension does not answer, is busy or has no phone registered."`
	DigestAlgorithms   []string  `json:"sip_digest_algorithms" doc:"SIP digest algorithms (MD5, SHA-256) offered to this extension's phones, in order of preference, and the only ones accepted from them; null means the server's (--digest-algorithms, MD5 by default). An extension with its own list can be told from others by its challenge."`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// ExtensionWithSecret is returned by create and by SIP password rotation: the
// only places the SIP password is shown.
type ExtensionWithSecret struct {
	Extension
	SIPPassword string `json:"sip_password" doc:"The SIP password. Shown only in this response."`
}

// ExtensionCreate is the body of create. Only number is required; a field
// left out takes the default its description names.
type ExtensionCreate struct {
	Number             *string  `json:"number,omitempty" pattern:"^[0-9]{2,6}$" example:"1001" doc:"Internal number, 2 to 6 digits."`
	Name               *string  `json:"name,omitempty" maxLength:"100" example:"Ann Lee"`
	Email              *string  `json:"email,omitempty" maxLength:"254"`
	Mobile             *string  `json:"mobile,omitempty" doc:"E.164 mobile number."`
	OutboundCallerID   *string  `json:"outbound_caller_id,omitempty" doc:"E.164 caller ID for external calls, or empty."`
	Language           *string  `json:"language,omitempty" doc:"BCP 47 language tag. Default en."`
	Timezone           *string  `json:"timezone,omitempty" doc:"IANA time zone. Default UTC."`
	Enabled            *bool    `json:"enabled,omitempty" doc:"Default true."`
	RingTimeoutSeconds *int     `json:"ring_timeout_seconds,omitempty" minimum:"5" maximum:"300" doc:"Default 30."`
	VoicemailEnabled   *bool    `json:"voicemail_enabled,omitempty" doc:"Default false."`
	VoicemailPIN       *string  `json:"voicemail_pin,omitempty" writeOnly:"true" doc:"4 to 10 digits. Write-only."`
	SIPUsername        *string  `json:"sip_username,omitempty" doc:"Digest user name. Default the number."`
	SIPPassword        *string  `json:"sip_password,omitempty" writeOnly:"true" minLength:"12" maxLength:"128" doc:"Generated when omitted."`
	HideFromDirectory  *bool    `json:"hide_from_directory,omitempty" doc:"Default false."`
	CallPermissions    []string `json:"call_permissions,omitempty" maxItems:"6" doc:"Classes of outside numbers: internal, local, national, mobile, international, premium. Default internal, local, national, mobile."`
	EmergencyCallback  *string  `json:"emergency_callback_number,omitempty"`
	NamePromptID       *string  `json:"name_prompt_id,omitempty" doc:"A prompt (pmt_...) with the extension's recorded name, played by dial by name."`
	NoAnswerCallPlanID *string  `json:"no_answer_call_plan_id,omitempty" doc:"A call plan (cpl_...) calls go to when the extension does not answer, is busy or has no phone registered."`
	DigestAlgorithms   []string `json:"sip_digest_algorithms,omitempty" maxItems:"2" doc:"SIP digest algorithms offered to this extension's phones, in order of preference: MD5, SHA-256 or both. Default the server's (--digest-algorithms, MD5 by default). Many phones, baresip 1.0 among them, give up on any SHA-256 challenge."`
}

// ExtensionPatch documents the JSON merge patch of update: every field is
// optional, and null clears the fields that may be empty. The route decodes
// the patch into ExtensionInput; the two have the same fields but
// sip_password, which only rotate-sip-password changes.
type ExtensionPatch struct {
	Number             *string  `json:"number,omitempty" pattern:"^[0-9]{2,6}$" doc:"Internal number, 2 to 6 digits. Admin only."`
	Name               *string  `json:"name,omitempty" nullable:"true" maxLength:"100"`
	Email              *string  `json:"email,omitempty" nullable:"true" maxLength:"254"`
	Mobile             *string  `json:"mobile,omitempty" nullable:"true" doc:"E.164 mobile number."`
	OutboundCallerID   *string  `json:"outbound_caller_id,omitempty" nullable:"true" doc:"E.164 caller ID for external calls, or empty. Admin only."`
	Language           *string  `json:"language,omitempty" nullable:"true" doc:"BCP 47 language tag; null sets en."`
	Timezone           *string  `json:"timezone,omitempty" nullable:"true" doc:"IANA time zone; null sets UTC."`
	Enabled            *bool    `json:"enabled,omitempty" doc:"Admin only."`
	RingTimeoutSeconds *int     `json:"ring_timeout_seconds,omitempty" minimum:"5" maximum:"300"`
	VoicemailEnabled   *bool    `json:"voicemail_enabled,omitempty"`
	VoicemailPIN       *string  `json:"voicemail_pin,omitempty" nullable:"true" writeOnly:"true" doc:"4 to 10 digits. Write-only; null or empty clears it."`
	SIPUsername        *string  `json:"sip_username,omitempty" nullable:"true" doc:"Digest user name; null sets the number. Admin only."`
	HideFromDirectory  *bool    `json:"hide_from_directory,omitempty"`
	CallPermissions    []string `json:"call_permissions,omitempty" nullable:"false" maxItems:"6" doc:"Classes of outside numbers: internal, local, national, mobile, international, premium. Admin only."`
	EmergencyCallback  *string  `json:"emergency_callback_number,omitempty" nullable:"true"`
	NamePromptID       *string  `json:"name_prompt_id,omitempty" nullable:"true" doc:"A prompt (pmt_...) with the extension's recorded name; null or empty clears it."`
	NoAnswerCallPlanID *string  `json:"no_answer_call_plan_id,omitempty" nullable:"true" doc:"A call plan (cpl_...) for calls the extension does not answer; null or empty clears it."`
	DigestAlgorithms   []string `json:"sip_digest_algorithms,omitempty" nullable:"true" maxItems:"2" doc:"MD5, SHA-256 or both, in order of preference; null: the server's. Admin only."`
}

// ExtensionInput is what create and update apply to an extension: create
// converts its body (ExtensionCreate) to it, update decodes its merge patch
// into it.
type ExtensionInput struct {
	Number             *string  `json:"number,omitempty" pattern:"^[0-9]{2,6}$" doc:"Internal number, 2 to 6 digits. Required on create."`
	Name               *string  `json:"name,omitempty" maxLength:"100"`
	Email              *string  `json:"email,omitempty" maxLength:"254"`
	Mobile             *string  `json:"mobile,omitempty" doc:"E.164 mobile number."`
	OutboundCallerID   *string  `json:"outbound_caller_id,omitempty" doc:"E.164 caller ID for external calls, or empty."`
	Language           *string  `json:"language,omitempty" doc:"BCP 47 language tag."`
	Timezone           *string  `json:"timezone,omitempty" doc:"IANA time zone."`
	Enabled            *bool    `json:"enabled,omitempty"`
	RingTimeoutSeconds *int     `json:"ring_timeout_seconds,omitempty" minimum:"5" maximum:"300"`
	VoicemailEnabled   *bool    `json:"voicemail_enabled,omitempty"`
	VoicemailPIN       *string  `json:"voicemail_pin,omitempty" writeOnly:"true" doc:"4 to 10 digits. Write-only; null or empty clears it."`
	SIPUsername        *string  `json:"sip_username,omitempty" doc:"Digest user name; defaults to the number."`
	SIPPassword        *string  `json:"sip_password,omitempty" writeOnly:"true" minLength:"12" maxLength:"128" doc:"Generated when omitted on create."`
	HideFromDirectory  *bool    `json:"hide_from_directory,omitempty"`
	CallPermissions    []string `json:"call_permissions,omitempty" maxItems:"6" doc:"Default internal, local, national, mobile."`
	EmergencyCallback  *string  `json:"emergency_callback_number,omitempty"`
	NamePromptID       *string  `json:"name_prompt_id,omitempty" doc:"A prompt (pmt_...) with the extension's recorded name, played by dial by name."`
	NoAnswerCallPlanID *string  `json:"no_answer_call_plan_id,omitempty" doc:"A call plan (cpl_...) calls go to when the extension does not answer, is busy or has no phone registered."`
	DigestAlgorithms   []string `json:"sip_digest_algorithms,omitempty" maxItems:"2" doc:"SIP digest algorithms offered to this extension's phones, in order of preference: MD5, SHA-256 or both. Omitted or null: the server's (MD5 by default). Admin only."`
}

// apply copies the fields that are set onto spec and returns the secrets to change.
func (in *ExtensionInput) apply(spec *core.ExtensionSpec) core.ExtensionChange {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&spec.Number, in.Number)
	set(&spec.Name, in.Name)
	set(&spec.Email, in.Email)
	set(&spec.Mobile, in.Mobile)
	set(&spec.OutboundCallerID, in.OutboundCallerID)
	set(&spec.Language, in.Language)
	set(&spec.Timezone, in.Timezone)
	set(&spec.SIPUsername, in.SIPUsername)
	if in.Enabled != nil {
		spec.Enabled = *in.Enabled
	}
	if in.RingTimeoutSeconds != nil {
		spec.RingTimeoutSeconds = *in.RingTimeoutSeconds
	}
	if in.VoicemailEnabled != nil {
		spec.VoicemailEnabled = *in.VoicemailEnabled
	}
	if in.HideFromDirectory != nil {
		spec.HideFromDirectory = *in.HideFromDirectory
	}
	if in.CallPermissions != nil {
		spec.CallPermissions = in.CallPermissions
	}
	set(&spec.EmergencyCallbackNumber, in.EmergencyCallback)
	set(&spec.NamePromptID, in.NamePromptID)
	set(&spec.NoAnswerCallPlanID, in.NoAnswerCallPlanID)
	if in.DigestAlgorithms != nil {
		spec.SIPDigestAlgorithms = in.DigestAlgorithms
	}
	return core.ExtensionChange{SIPPassword: in.SIPPassword, VoicemailPIN: in.VoicemailPIN}
}

func toExtension(e *core.Extension) Extension {
	return Extension{
		ID: string(e.ID), Number: e.Number, Name: e.Name, Email: e.Email, Mobile: e.Mobile,
		OutboundCallerID: e.OutboundCallerID, Language: e.Language, Timezone: e.Timezone,
		Enabled: e.Enabled, RingTimeoutSeconds: e.RingTimeoutSeconds, VoicemailEnabled: e.VoicemailEnabled,
		VoicemailPINSet: e.VoicemailPINHash != "", SIPUsername: e.SIPUsername,
		HideFromDirectory: e.HideFromDirectory, CallPermissions: orEmpty(e.CallPermissions),
		EmergencyCallback: e.EmergencyCallbackNumber, DigestAlgorithms: e.SIPDigestAlgorithms,
		NamePromptID: e.NamePromptID, NoAnswerCallPlanID: e.NoAnswerCallPlanID,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
}

// etag is the strong entity tag of a version of a resource.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch reports whether an If-Match header value matches the current version.
func ifMatch(header string, version int64) bool {
	header = strings.TrimSpace(header)
	if header == "" || header == "*" {
		return true
	}
	want := etag(version)
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == want {
			return true
		}
	}
	return false
}

// ExtensionIDParam is the {id} path parameter of extension routes.
type ExtensionIDParam struct {
	ID string `path:"id" example:"ext_5f3kq9w2m8c1xz7d" doc:"Extension id."`
}

type extensionOutput struct {
	ETag string `header:"ETag"`
	Body Extension
}

type extensionSecretOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     ExtensionWithSecret
}

// extensionRotated is the answer to rotate-sip-password: no Location, the
// extension is where it was.
type extensionRotated struct {
	ETag string `header:"ETag"`
	Body ExtensionWithSecret
}

type extensionList struct {
	Body struct {
		Items      []Extension `json:"items" nullable:"false"`
		NextCursor string      `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

// ListParams are the keyset pagination parameters of every list.
type ListParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Page size."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page."`
}

func (p ListParams) page() core.PageRequest {
	return core.PageRequest{Limit: p.Limit, Cursor: p.Cursor}
}

var idempotencyHeaderDoc = "A key making this POST safe to retry: the same key and body return the first response again; the same key with another body is 422."

// IdempotencyParam documents the Idempotency-Key header of a POST.
type IdempotencyParam struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"1 to 255 printable characters chosen by the client. The same key and request within 24 hours answer the first response again (with Idempotent-Replayed: true); the same key with another request is 422."`
}

// ownExtension enforces that a member key touches only its own extension.
func ownExtension(ctx context.Context, id core.ExtensionID) error {
	k := principal(ctx)
	if k == nil || k.Role == core.RoleAdmin || (k.Role == core.RoleMember && k.ExtensionID == id) {
		return nil
	}
	return huma.Error403Forbidden("this API key may only use its own extension")
}

func adminOnly(ctx context.Context) error {
	if k := principal(ctx); k != nil && k.Role != core.RoleAdmin {
		return huma.Error403Forbidden("this operation needs an admin API key")
	}
	return nil
}

// memberLockedFields are the fields only an admin may change. The digest
// algorithms are among them: they are a security policy of the PBX (a member
// could otherwise undo a SHA-256-only rule and weaken their own credentials
// to MD5), and a wrong list locks the phones out until an admin fixes it.
var memberLockedFields = []string{"number", "sip_username", "enabled", "outbound_caller_id", "call_permissions", "sip_digest_algorithms"}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func registerExtensions(a huma.API, s *server) {
	tags := []string{"Extensions"}
	huma.Register(a, huma.Operation{
		OperationID:   "create-extension",
		Method:        http.MethodPost,
		Path:          "/v1/extensions",
		Summary:       "Create an extension",
		Description:   "Creates an extension. The SIP password is generated when omitted and is returned only in this response. " + idempotencyHeaderDoc,
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body ExtensionCreate
	}) (*extensionSecretOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		spec := core.DefaultExtensionSpec()
		body := ExtensionInput(in.Body)
		ch := body.apply(&spec)
		if body.Number == nil {
			return nil, s.problem(ctx, core.ValidationError{{Field: "number", Message: "is required"}}, "body")
		}
		e, err := s.Extensions.Create(ctx, spec, ch)
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return secretOutput(e), nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-extensions",
		Method:      http.MethodGet,
		Path:        "/v1/extensions",
		Summary:     "List extensions",
		Description: "Lists extensions ordered by number, keyset-paginated. A member key sees only its own extension.",
		Tags:        tags,
		Errors:      []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		ListParams
		NumberPrefix string `query:"number_prefix" pattern:"^[0-9]{0,6}$" doc:"Only numbers starting with these digits."`
		Q            string `query:"q" maxLength:"100" doc:"Only extensions whose name or email contains this text."`
	}) (*extensionList, error) {
		out := &extensionList{}
		out.Body.Items = []Extension{}
		if k := principal(ctx); k != nil && k.Role == core.RoleMember {
			return s.listOwnExtension(ctx, k.ExtensionID, in.NumberPrefix, in.Q, in.Cursor)
		}
		page, err := s.Extensions.Repo.ListExtensions(ctx, core.ExtensionFilter{NumberPrefix: in.NumberPrefix, Query: in.Q}, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		for _, e := range page.Items {
			out.Body.Items = append(out.Body.Items, toExtension(e))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "get-extension",
		Method:      http.MethodGet,
		Path:        "/v1/extensions/{id}",
		Summary:     "Get an extension",
		Description: "One extension, with its ETag for a later If-Match. A member key may read only its own extension.",
		Tags:        tags,
		Errors:      []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *ExtensionIDParam) (*extensionOutput, error) {
		id := core.ExtensionID(in.ID)
		if err := ownExtension(ctx, id); err != nil {
			return nil, err
		}
		e, err := s.Extensions.Repo.GetExtension(ctx, id)
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &extensionOutput{ETag: etag(e.Version), Body: toExtension(e)}, nil
	})

	op := huma.Operation{
		OperationID: "update-extension",
		Method:      http.MethodPatch,
		Path:        "/v1/extensions/{id}",
		Summary:     "Update an extension",
		Description: "Applies a JSON merge patch (RFC 7396). `null` clears an optional field. " +
			"With `If-Match`, the update happens only if the extension still has that ETag (412 otherwise). " +
			"A member key may not change number, sip_username, enabled, outbound_caller_id, call_permissions or sip_digest_algorithms.",
		Tags:   tags,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}
	huma.Register(a, op, func(ctx context.Context, in *struct {
		ExtensionIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the extension changed since."`
		RawBody []byte `contentType:"application/merge-patch+json"`
	}) (*extensionOutput, error) {
		id := core.ExtensionID(in.ID)
		if err := ownExtension(ctx, id); err != nil {
			return nil, err
		}
		patch, err := decodeExtensionPatch(in.RawBody)
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if k := principal(ctx); k != nil && k.Role == core.RoleMember {
			for _, f := range memberLockedFields {
				if _, ok := patch.fields[f]; ok {
					return nil, huma.Error403Forbidden("only an admin key may change "+f,
						&huma.ErrorDetail{Location: "body." + f, Message: "admin only"})
				}
			}
		}
		cur, err := s.Extensions.Repo.GetExtension(ctx, id)
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, cur.Version) {
			return nil, huma.Error412PreconditionFailed("the extension changed since the ETag in If-Match was read")
		}
		var expect int64
		if strings.TrimSpace(in.IfMatch) != "" && in.IfMatch != "*" {
			expect = cur.Version
		}
		e, err := s.Extensions.Update(ctx, id, expect, func(spec *core.ExtensionSpec) (core.ExtensionChange, error) {
			return patch.apply(spec), nil
		})
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &extensionOutput{ETag: etag(e.Version), Body: toExtension(e)}, nil
	})
	// The body is read raw (to see nulls); document it with the input schema.
	if p := a.OpenAPI().Paths["/v1/extensions/{id}"]; p != nil && p.Patch != nil {
		schema := a.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ExtensionPatch](), true, "ExtensionPatch")
		p.Patch.RequestBody.Content = map[string]*huma.MediaType{
			"application/merge-patch+json": {Schema: schema},
			"application/json":             {Schema: schema},
		}
	}

	huma.Register(a, huma.Operation{
		OperationID:   "delete-extension",
		Method:        http.MethodDelete,
		Path:          "/v1/extensions/{id}",
		Summary:       "Delete an extension",
		Description:   "Deletes the extension and revokes the member API keys bound to it.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *ExtensionIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.Extensions.Delete(ctx, core.ExtensionID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "rotate-extension-sip-password",
		Method:      http.MethodPost,
		Path:        "/v1/extensions/{id}/rotate-sip-password",
		Summary:     "Generate a new SIP password",
		Description: "Replaces the SIP password with a generated one, returned only in this response. Phones using the old one must be reconfigured. " + idempotencyHeaderDoc,
		Tags:        tags,
		Errors:      []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ExtensionIDParam
		IdempotencyParam
	}) (*extensionRotated, error) {
		id := core.ExtensionID(in.ID)
		if err := ownExtension(ctx, id); err != nil {
			return nil, err
		}
		e, err := s.Extensions.RotateSIPPassword(ctx, id)
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		out := secretOutput(e)
		return &extensionRotated{ETag: out.ETag, Body: out.Body}, nil
	})
}

func secretOutput(e *core.Extension) *extensionSecretOutput {
	return &extensionSecretOutput{
		ETag:     etag(e.Version),
		Location: "/v1/extensions/" + string(e.ID),
		Body:     ExtensionWithSecret{Extension: toExtension(e), SIPPassword: e.SIPPassword.Reveal()},
	}
}

func (s *server) listOwnExtension(ctx context.Context, id core.ExtensionID, prefix, q, cursor string) (*extensionList, error) {
	out := &extensionList{}
	out.Body.Items = []Extension{}
	if cursor != "" {
		return out, nil
	}
	e, err := s.Extensions.Repo.GetExtension(ctx, id)
	if err != nil {
		return nil, s.problem(ctx, err, "path")
	}
	ql := strings.ToLower(q)
	if strings.HasPrefix(e.Number, prefix) && (q == "" || strings.Contains(strings.ToLower(e.Name), ql) || strings.Contains(strings.ToLower(e.Email), ql)) {
		out.Body.Items = append(out.Body.Items, toExtension(e))
	}
	return out, nil
}

// extensionPatch is a decoded JSON merge patch for an extension.
type extensionPatch struct {
	fields map[string]json.RawMessage
	input  ExtensionInput
	nulls  map[string]bool
}

// clearedBy is what a null in a merge patch sets each clearable field to.
var clearedBy = map[string]func(*core.ExtensionSpec, *core.ExtensionChange){
	"name":                      func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.Name = "" },
	"email":                     func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.Email = "" },
	"mobile":                    func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.Mobile = "" },
	"outbound_caller_id":        func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.OutboundCallerID = "" },
	"language":                  func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.Language = "" },
	"timezone":                  func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.Timezone = "" },
	"sip_username":              func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.SIPUsername = "" },
	"emergency_callback_number": func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.EmergencyCallbackNumber = "" },
	"sip_digest_algorithms":     func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.SIPDigestAlgorithms = nil },
	"name_prompt_id":            func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.NamePromptID = "" },
	"no_answer_call_plan_id":    func(s *core.ExtensionSpec, _ *core.ExtensionChange) { s.NoAnswerCallPlanID = "" },
	"voicemail_pin": func(_ *core.ExtensionSpec, c *core.ExtensionChange) {
		empty := ""
		c.VoicemailPIN = &empty
	},
}

func decodeExtensionPatch(raw []byte) (*extensionPatch, error) {
	p := &extensionPatch{nulls: map[string]bool{}}
	if err := json.Unmarshal(raw, &p.fields); err != nil || p.fields == nil {
		return nil, core.ValidationError{{Field: "", Message: "must be a JSON object (a merge patch)"}}
	}
	// Keys are checked as spelled before anything reads them: the member
	// locked-field check below looks keys up exactly.
	if err := checkKeys(raw, reflect.TypeFor[ExtensionInput]()); err != nil {
		return nil, err
	}
	var v core.ValidationError
	rest := map[string]json.RawMessage{}
	for name, val := range p.fields {
		if string(bytes.TrimSpace(val)) != "null" {
			rest[name] = val
			continue
		}
		if _, ok := clearedBy[name]; !ok {
			v.Add(name, "cannot be null", nil)
			continue
		}
		p.nulls[name] = true
	}
	b, _ := json.Marshal(rest)
	if err := decodeStrict(b, &p.input); err != nil {
		var ve core.ValidationError
		if errors.As(err, &ve) {
			v = append(v, ve...)
		} else {
			v = append(v, jsonFieldError(err))
		}
	}
	if p.input.SIPPassword != nil {
		v.Add("sip_password", "cannot be set by update: use rotate-sip-password", nil)
	}
	return p, v.Err()
}

func (p *extensionPatch) apply(spec *core.ExtensionSpec) core.ExtensionChange {
	ch := p.input.apply(spec)
	for name := range p.nulls {
		clearedBy[name](spec, &ch)
	}
	return ch
}

// jsonFieldError names the field a JSON decoding error is about.
func jsonFieldError(err error) *core.FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &core.FieldError{Field: te.Field, Message: fmt.Sprintf("must be a %s", jsonTypeName(te.Type.String()))}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &core.FieldError{Field: strings.Trim(name, `"`), Message: "is not a field of this resource"}
	}
	return &core.FieldError{Field: "", Message: msg}
}

func jsonTypeName(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case goType == "string":
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"):
		return "integer"
	}
	return goType
}
