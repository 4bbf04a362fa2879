package api

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// tagDescriptions describes each tag the operations are grouped by, in the
// order the document lists them.
var tagDescriptions = []*huma.Tag{
	{Name: "Health", Description: "Liveness and readiness checks for load balancers and supervisors; no API key."},
	{Name: "Extensions", Description: "Internal numbers with their SIP credentials, voicemail and calling rights."},
	{Name: "Registrations", Description: "Phones currently registered to extensions."},
	{Name: "API keys", Description: "Bearer keys: admin keys manage everything, member keys one extension."},
	{Name: "Calls", Description: "Live calls: click-to-call, hang up, hold, DTMF and transfer."},
	{Name: "Call records", Description: "One record per finished or running call, as JSON pages or CSV."},
	{Name: "Trunks", Description: "SIP trunks to carriers, registering or IP-authenticated."},
	{Name: "Numbers", Description: "Phone numbers (DIDs) and where their inbound calls go."},
	{Name: "Outbound routes", Description: "Which trunks outside numbers are sent to, in order."},
	{Name: "Webhooks", Description: "Event subscriptions with signed deliveries, a delivery log and redelivery."},
	{Name: "Events", Description: "The event outbox as a Server-Sent Events stream or pages of history."},
	{Name: "Security", Description: "Banned addresses and the networks that are never banned."},
	{Name: "Prompts", Description: "Uploaded recordings (stored as 8 kHz mono WAV), their audio, and the system prompts they can replace per language."},
	{Name: "Music on hold", Description: "Music-on-hold classes: playlists of stored and system prompts; the default class cannot be deleted."},
	{Name: "Schedules", Description: "Open hours, holidays and overrides that call plans branch on; night mode by phone."},
	{Name: "Call plans", Description: "Call plans (IVR, auto attendant): graphs of menus, prompts, schedules, dial by name and transfers that calls run through."},
	{Name: "Webhook events", Description: "The requests Dialtone sends to webhook subscribers, one per event type."},
}

// problemResponse documents an error answered as RFC 9457 problem+json.
func problemResponse(a huma.API, status int, description string) *huma.Response {
	// The type huma.NewError returns, as the errors huma documents itself.
	t := reflect.TypeOf(huma.NewError(status, description))
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	schema := a.OpenAPI().Components.Schemas.Schema(t, true, "Error")
	return &huma.Response{
		Description: description,
		Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: schema}},
	}
}

// Responses every /v1 operation may give besides its own, and why.
const (
	docBadRequest = "The request cannot be read: a body that is not JSON, or an Idempotency-Key that is not 1 to 255 printable characters."
	docUnauth     = "No API key, or one that is not valid."
	docForbidden  = "The API key's role does not allow this."
	docNotFound   = "Nothing has this id."
	docTooLarge   = "The request body is too large."
	docMediaType  = "The request body is not in a media type this operation reads (JSON)."
	docInvalid    = "A parameter or a field of the body is not valid; errors name each one. Also the answer to an Idempotency-Key reused with another request."
	docThrottled  = "Too many failed authentications from this address; retry after Retry-After seconds."
	docInFlight   = "A request with this Idempotency-Key is still being handled."
)

// createRequired are the fields each create body must have.
var createRequired = map[reflect.Type][]string{
	reflect.TypeFor[ExtensionCreate]():     {"number"},
	reflect.TypeFor[WebhookCreate]():       {"url", "event_types"},
	reflect.TypeFor[TrunkCreate]():         {"name", "host", "auth_mode"},
	reflect.TypeFor[NumberCreate]():        {"number", "route"},
	reflect.TypeFor[OutboundRouteCreate](): {"name", "patterns", "trunk_ids"},
	reflect.TypeFor[ScheduleCreate]():      {"name", "time_zone"},
}

// documentRequired lists fields of a body as required in the document. The
// handlers check them, as they check the rest of the body, so that the 422
// names the missing field (body.number) like every other validation error;
// the schema validator would name only the object (body).
func documentRequired(a huma.API, t reflect.Type, fields ...string) {
	reg := a.OpenAPI().Components.Schemas
	ref := reg.Schema(t, true, "")
	s := reg.SchemaFromRef(ref.Ref)
	if s == nil {
		return
	}
	for _, f := range fields {
		if s.Properties[f] == nil {
			panic("api: " + t.Name() + " has no field " + f)
		}
		if !slices.Contains(s.Required, f) {
			s.Required = append(s.Required, f)
		}
	}
}

func header(doc string) *huma.Header {
	return &huma.Header{Description: doc, Schema: &huma.Schema{Type: "string"}}
}

// documentCommon completes the document once every operation is registered:
// the info every generator wants, tag descriptions, and on each operation the
// responses and headers that the middleware (request ids, authentication,
// idempotency) adds to what the handler declares.
func documentCommon(a huma.API) {
	oapi := a.OpenAPI()
	oapi.Info.License = &huma.License{Name: "Apache-2.0", Identifier: "Apache-2.0"}
	oapi.Info.Contact = &huma.Contact{Name: "Dialtone", URL: "https://github.com/dialtone-pbx/dialtone"}
	oapi.Servers = []*huma.Server{{
		URL:         "http://127.0.0.1:8080",
		Description: "The default --http address of `dialtone serve`.",
	}}
	oapi.Tags = tagDescriptions
	for t, fields := range createRequired {
		documentRequired(a, t, fields...)
	}

	for path, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				documentOperation(a, path, op)
			}
		}
	}
}

func documentOperation(a huma.API, path string, op *huma.Operation) {
	v1 := strings.HasPrefix(path, "/v1/")
	hasBody := op.RequestBody != nil
	hasParams := len(op.Parameters) > 0
	idempotent := v1 && op.Method == http.MethodPost
	add := func(status int, doc string) {
		code := strconv.Itoa(status)
		if r, ok := op.Responses[code]; ok {
			// Keep what the handler declared, with the reason in words.
			if r.Description == http.StatusText(status) {
				r.Description = doc
			}
			return
		}
		op.Responses[code] = problemResponse(a, status, doc)
	}
	if v1 {
		if hasBody || idempotent {
			add(http.StatusBadRequest, docBadRequest)
		}
		add(http.StatusUnauthorized, docUnauth)
		if slices.ContainsFunc(op.Parameters, func(p *huma.Param) bool { return p.In == "path" }) {
			add(http.StatusNotFound, docNotFound)
		}
		if hasBody || idempotent {
			add(http.StatusRequestEntityTooLarge, docTooLarge)
		}
		if hasBody {
			add(http.StatusUnsupportedMediaType, docMediaType)
		}
		if hasBody || hasParams {
			add(http.StatusUnprocessableEntity, docInvalid)
		}
		if idempotent {
			add(http.StatusConflict, docInFlight)
		}
		add(http.StatusTooManyRequests, docThrottled)
		op.Responses["401"].Headers = map[string]*huma.Header{
			"WWW-Authenticate": header("Bearer realm=\"dialtone\", with error=\"invalid_token\" when a key was given."),
		}
		op.Responses["429"].Headers = map[string]*huma.Header{
			"Retry-After": {Description: "Seconds to wait before trying again.", Schema: &huma.Schema{Type: "integer"}},
		}
		if r, ok := op.Responses["403"]; ok && r.Description == http.StatusText(http.StatusForbidden) {
			r.Description = docForbidden
		}
	}
	for code, r := range op.Responses {
		if r.Headers == nil {
			r.Headers = map[string]*huma.Header{}
		}
		r.Headers["X-Request-Id"] = header("The request's id: the X-Request-Id sent (1 to 64 of A-Z a-z 0-9 . _ -) or a generated one; it is in the log line of the request.")
		if idempotent && strings.HasPrefix(code, "2") {
			r.Headers["Idempotent-Replayed"] = header("true when this is the stored response to an earlier request with the same Idempotency-Key.")
		}
	}
}
