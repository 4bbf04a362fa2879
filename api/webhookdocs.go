package api

import (
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// eventPayloads maps each event type to the Go type of its data.
func eventPayload(t core.EventType) (reflect.Type, string) {
	switch {
	case strings.HasPrefix(string(t), "call."):
		return reflect.TypeFor[call.EventData](), "CallEventData"
	case strings.HasPrefix(string(t), "registration."):
		return reflect.TypeFor[core.RegistrationEventData](), "RegistrationEventData"
	case strings.HasPrefix(string(t), "extension."):
		return reflect.TypeFor[core.ExtensionEventData](), "ExtensionEventData"
	case t == core.EventSecurityIPBanned:
		return reflect.TypeFor[core.SecurityBanData](), "SecurityBanData"
	case t == core.EventTrunkStatusChanged:
		return reflect.TypeFor[core.TrunkStatusData](), "TrunkStatusData"
	}
	return reflect.TypeFor[core.WebhookEventData](), "WebhookEventData"
}

// documentedEvents are the event types the webhooks section lists: every type
// a subscription can name, and webhook.ping, which any subscription is sent
// on demand (POST /v1/webhooks/{id}/ping).
func documentedEvents() []core.EventType {
	return append(slices.Clip(core.EventTypes), core.EventWebhookPing)
}

// documentWebhooks lists every event type in the OpenAPI webhooks section
// with its envelope and payload schema, generated from the Go types. The
// envelope of the event routes (Envelope) names the same payload schemas, so
// that they are reachable from the paths: code generators that read only the
// paths keep them.
func documentWebhooks(a huma.API) {
	oapi := a.OpenAPI()
	reg := oapi.Components.Schemas
	oapi.Webhooks = map[string]*huma.PathItem{}
	var payloads []*huma.Schema
	seen := map[string]bool{}
	for _, t := range documentedEvents() {
		typ, name := eventPayload(t)
		data := reg.Schema(typ, true, name)
		if !seen[data.Ref] {
			seen[data.Ref] = true
			payloads = append(payloads, data)
		}
		envelope := &huma.Schema{
			Type:     "object",
			Required: []string{"id", "type", "occurred_at", "sequence", "data"},
			Properties: map[string]*huma.Schema{
				"id":          {Type: "string", Description: "Event id (evt_...); deliveries of one event share it, so receivers can deduplicate."},
				"type":        {Type: "string", Enum: []any{string(t)}},
				"occurred_at": {Type: "string", Format: "date-time"},
				"sequence":    {Type: "integer", Format: "int64", Description: "Increases with every event; events of one call arrive in sequence order."},
				"data":        data,
			},
			AdditionalProperties: false,
		}
		header := func(name, doc string) *huma.Param {
			return &huma.Param{Name: name, In: "header", Required: true, Description: doc, Schema: &huma.Schema{Type: "string"}}
		}
		oapi.Webhooks[string(t)] = &huma.PathItem{Post: &huma.Operation{
			OperationID: "event-" + strings.ReplaceAll(string(t), ".", "-"),
			Summary:     "Event " + string(t),
			Description: "Sent to every enabled subscription whose event_types cover " + string(t) + ", signed with its secret. " +
				"Deliveries of one call keep the order of sequence; a delivery that fails is retried with backoff.",
			Tags: []string{"Webhook events"},
			Parameters: []*huma.Param{
				header("Dialtone-Signature", "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the subscription secret>; a second v1 entry during a secret rotation."),
				header("Dialtone-Event-Id", "The envelope's id."),
				header("Dialtone-Event-Type", "The envelope's type."),
			},
			RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/json": {Schema: envelope}}},
			Responses: map[string]*huma.Response{
				"2XX": {Description: "Delivered. Any other status is retried with backoff; 410 Gone disables the subscription."},
			},
		}}
	}
	if env := reg.Map()["Envelope"]; env != nil && env.Properties["data"] != nil {
		env.Properties["data"] = &huma.Schema{
			Description: "The payload; which schema it follows depends on type (see the webhooks section).",
			AnyOf:       payloads,
		}
	}
}
