// Package api serves Dialtone's REST API with huma: one file per resource,
// bearer-key authentication, problem+json errors and Idempotency-Key support.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/store"
)

// Version is the API version written into the OpenAPI document.
const Version = "1.0.0"

// IdempotencyStore remembers the first response to each Idempotency-Key.
type IdempotencyStore interface {
	ClaimIdempotencyKey(ctx context.Context, scope, key, requestHash string, ttl time.Duration) (*store.IdempotentRecord, error)
	CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, headers map[string]string, body []byte) error
	ReleaseIdempotencyKey(ctx context.Context, scope, key string) error
}

// Pinger answers whether the database is usable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the services the API serves.
type Deps struct {
	Extensions  *core.Extensions
	APIKeys     *core.APIKeys
	Idempotency IdempotencyStore
	DB          Pinger
	SIP         core.SIPState
	Calls       call.Control
	CallRecords call.RecordRepo
	// WebhookRepo stores subscriptions; WebhookSender signs and sends pings.
	WebhookRepo   core.WebhookRepo
	WebhookSender Webhooks
	// Events reads the outbox for the stream and history routes.
	Events  EventReader
	Trunks  core.TrunkRepo
	Numbers core.NumberRepo
	// OutboundRoutes stores the ordered outbound routes.
	OutboundRoutes core.OutboundRouteRepo
	// Allowlist stores the networks never banned; SIP applies changes.
	Allowlist core.AllowlistRepo
	// Country is the home country (ISO 3166 alpha-2) national numbers are read in.
	Country string
	// Stop is closed when the server shuts down; event streams end then.
	Stop   <-chan struct{}
	Logger *slog.Logger
	// CORSOrigins are the browser origins allowed to call the API ("*": any); none turns CORS off.
	CORSOrigins []string
	// Metrics serves /metrics and is told about every request (metrics.go).
	Metrics MetricsConfig
	// The call engine's configuration: prompts and music-on-hold classes,
	// schedules, call plans (each declared in its resource's file).
	Prompts    PromptRepo
	MOHClasses MOHClassRepo
	Schedules  ScheduleRepo
	CallPlans  CallPlanRepo
}

type server struct {
	Deps
	throttle *authThrottle
	// reads lets identical list requests share their body (coalesce.go).
	reads coalescer
	// recordJSON keeps the JSON of the call records listed (recordjson.go).
	recordJSON recordJSON
}

func newConfig() huma.Config {
	cfg := huma.DefaultConfig("Dialtone API", Version)
	// No $schema links in bodies and no unauthenticated spec or docs routes:
	// the document is served by `dialtone openapi` and committed as openapi.yaml.
	cfg.CreateHooks = nil
	cfg.OpenAPIPath = ""
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.Info.Description = "Dialtone is a headless, API-first PBX. Every /v1 route takes " +
		"`Authorization: Bearer <api key>`; errors are RFC 9457 problem+json."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API key issued by /v1/api-keys."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	// One strict JSON decoding for every body (decode.go); "json" also serves
	// +json media types such as application/merge-patch+json.
	cfg.Formats = map[string]huma.Format{"application/json": strictJSON, "json": strictJSON}
	cfg.Transformers = append(cfg.Transformers, problemDetails, microsecondTimes)
	return cfg
}

func register(a huma.API, s *server) {
	registerHealth(a, s)
	registerExtensions(a, s)
	registerAPIKeys(a, s)
	registerSIPState(a, s)
	registerSecurity(a, s)
	registerCalls(a, s)
	registerCallControl(a, s)
	registerCallRecords(a, s)
	registerWebhooks(a, s)
	registerTrunks(a, s)
	registerNumbers(a, s)
	registerOutboundRoutes(a, s)
	registerEvents(a, s)
	registerPrompts(a, s)
	registerMOHClasses(a, s)
	registerSchedules(a, s)
	registerCallPlans(a, s)
	documentWebhooks(a)
	documentCommon(a)
}

// New returns the whole HTTP handler: request logging, authentication,
// idempotency and the operations.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{Deps: d, throttle: newAuthThrottle()}
	mux := http.NewServeMux()
	register(humago.New(mux, newConfig()), s)
	var h http.Handler = problemFallback(mux)
	h = s.idempotency(h)
	h = s.authenticate(h)
	h = cors(d.CORSOrigins, h)
	h = s.logRequests(h)
	h = s.instrument(h, mux)
	return h
}

// OpenAPI returns the document describing every operation.
func OpenAPI() *huma.OpenAPI {
	a := humago.New(http.NewServeMux(), newConfig())
	register(a, &server{})
	return a.OpenAPI()
}

// OpenAPIYAML renders the document as committed in openapi.yaml.
func OpenAPIYAML() ([]byte, error) {
	return OpenAPI().YAML()
}
