package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/webhook"
)

// Webhooks is what the webhook routes need besides the store.
type Webhooks interface {
	// Post sends one signed event now (a ping) and returns the outcome.
	Post(ctx context.Context, h *core.Webhook, e *core.Event) core.AttemptResult
	Config() webhook.Config
}

// Webhook is a subscription as the API shows it: never its secret.
type Webhook struct {
	ID             string     `json:"id" example:"whk_3m9qz0c8v1x4k7dt"`
	URL            string     `json:"url" example:"https://crm.example.com/dialtone"`
	Description    string     `json:"description"`
	EventTypes     []string   `json:"event_types" nullable:"false" example:"[\"call.*\",\"extension.created\"]"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// WebhookWithSecret is returned by create and rotate-secret only.
type WebhookWithSecret struct {
	Webhook
	Secret string `json:"secret" doc:"The signing secret, shown only in this response: whsec_ and the base64 of 32 random bytes, the Standard Webhooks format. Give it as it is to a Standard Webhooks library: the key of webhook-signature is the base64 after whsec_, decoded. Dialtone-Signature is keyed with the whole string, whsec_ included."`
}

// WebhookCreate is the body of create: url and event_types are required.
type WebhookCreate struct {
	URL         *string  `json:"url,omitempty" maxLength:"2000" example:"https://crm.example.com/dialtone" doc:"http or https; private, loopback and link-local targets are refused."`
	Description *string  `json:"description,omitempty" maxLength:"500"`
	EventTypes  []string `json:"event_types,omitempty" nullable:"false" minItems:"1" maxItems:"50" example:"[\"call.*\",\"extension.created\"]" doc:"Event types or wildcards such as call.*"`
	Enabled     *bool    `json:"enabled,omitempty" doc:"Default true."`
}

// WebhookPatch is the body of update, a merge patch: fields left out keep their value.
type WebhookPatch struct {
	URL         *string  `json:"url,omitempty" maxLength:"2000" doc:"http or https; private, loopback and link-local targets are refused."`
	Description *string  `json:"description,omitempty" maxLength:"500"`
	EventTypes  []string `json:"event_types,omitempty" minItems:"1" maxItems:"50" doc:"Event types or wildcards such as call.*"`
	Enabled     *bool    `json:"enabled,omitempty" doc:"Re-enabling clears the reason it was disabled."`
}

// Delivery is one event's way to one webhook.
type Delivery struct {
	ID            string     `json:"id"`
	EventSequence int64      `json:"event_sequence"`
	Status        string     `json:"status" enum:"pending,succeeded,failed"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status_code,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LatencyMs     int64      `json:"latency_ms"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"When the next retry is due (pending deliveries)."`
}

func toWebhook(w *core.Webhook) Webhook {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	return Webhook{ID: string(w.ID), URL: w.URL, Description: w.Description, EventTypes: types, Enabled: w.Enabled,
		DisabledReason: w.DisabledReason, FailingSince: w.FailingSince, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func toDelivery(d *core.Delivery) Delivery {
	out := Delivery{ID: d.ID, EventSequence: d.EventSeq, Status: string(d.Status), Attempts: d.Attempts,
		LastAttemptAt: d.LastAttemptAt, LastStatus: d.LastStatus, LastError: d.LastError, LatencyMs: d.LastLatency.Milliseconds()}
	if d.Status == core.DeliveryPending {
		next := d.NextAttemptAt
		if next.Before(d.CreatedAt) {
			next = d.CreatedAt
		}
		out.NextAttemptAt = &next
	}
	return out
}

// checkWebhookInput validates fields that are set; on create every field is required but description.
func (s *server) checkWebhookInput(ctx context.Context, in *WebhookPatch, create bool) error {
	var v core.ValidationError
	if in.URL != nil || create {
		if in.URL == nil {
			v.Add("url", "is required", nil)
		} else if err := webhook.CheckURL(ctx, *in.URL, s.WebhookSender.Config().AllowPrivate, nil); err != nil {
			v.Add("url", err.Error(), *in.URL)
		}
	}
	if in.EventTypes != nil || create {
		if len(in.EventTypes) == 0 {
			v.Add("event_types", "must name at least one event type", nil)
		}
		for _, t := range in.EventTypes {
			if !core.ValidEventPattern(t) || strings.Contains(t, ",") {
				v.Add("event_types", "unknown event type "+t, t)
			}
		}
	}
	return v.Err()
}

// WebhookIDParam is the {id} path parameter of webhook routes.
type WebhookIDParam struct {
	ID string `path:"id" doc:"Webhook id."`
}

type webhookCreated struct {
	Location string `header:"Location"`
	Body     WebhookWithSecret
}

type webhookOutput struct {
	ETag string `header:"ETag"`
	Body Webhook
}

type webhookList struct {
	Body struct {
		Items      []Webhook `json:"items" nullable:"false"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
}

type deliveryList struct {
	Body struct {
		Items      []Delivery `json:"items" nullable:"false"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

func registerWebhooks(a huma.API, s *server) {
	tags := []string{"Webhooks"}
	huma.Register(a, huma.Operation{
		OperationID: "create-webhook", Method: http.MethodPost, Path: "/v1/webhooks",
		Summary: "Subscribe to events",
		Description: "Creates a subscription. The signing secret is in this response only. Deliveries carry " +
			"`Dialtone-Signature: t=<unix>,v1=<hex hmac-sha256(secret, \"<t>.<raw body>\")>` and the Standard Webhooks headers " +
			"`webhook-id` (the event id), `webhook-timestamp` and `webhook-signature: v1,<base64 hmac-sha256(key, \"<id>.<timestamp>.<raw body>\")>`. Admin keys only. " + idempotencyHeaderDoc,
		Tags: tags, DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body WebhookCreate
	}) (*webhookCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		body := WebhookPatch(in.Body)
		if err := s.checkWebhookInput(ctx, &body, true); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		w := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: *in.Body.URL, EventTypes: in.Body.EventTypes,
			Enabled: true, Secret: core.Secret(webhook.NewSecret()), Version: 1, CreatedAt: now, UpdatedAt: now}
		if in.Body.Description != nil {
			w.Description = *in.Body.Description
		}
		if in.Body.Enabled != nil {
			w.Enabled = *in.Body.Enabled
		}
		if err := s.WebhookRepo.CreateWebhook(ctx, w); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &webhookCreated{Location: "/v1/webhooks/" + string(w.ID), Body: WebhookWithSecret{Webhook: toWebhook(w), Secret: w.Secret.Reveal()}}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-webhooks", Method: http.MethodGet, Path: "/v1/webhooks",
		Summary:     "List subscriptions",
		Description: "Webhook subscriptions without their secrets, keyset-paginated. Admin keys only.", Tags: tags, Errors: []int{http.StatusForbidden},
	}, func(ctx context.Context, in *ListParams) (*webhookList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.WebhookRepo.ListWebhooks(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &webhookList{}
		out.Body.Items = make([]Webhook, 0, len(page.Items))
		for _, w := range page.Items {
			out.Body.Items = append(out.Body.Items, toWebhook(w))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "get-webhook", Method: http.MethodGet, Path: "/v1/webhooks/{id}",
		Summary:     "Get a subscription",
		Description: "One subscription without its secret, with its ETag for a later If-Match. Admin keys only.", Tags: tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *WebhookIDParam) (*webhookOutput, error) {
		w, err := s.adminWebhook(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &webhookOutput{ETag: etag(w.Version), Body: toWebhook(w)}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "update-webhook", Method: http.MethodPatch, Path: "/v1/webhooks/{id}",
		Summary:     "Change a subscription",
		Description: "JSON merge patch of url, description, event_types, enabled. Honours If-Match.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		WebhookIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the subscription changed since."`
		Body    WebhookPatch
	}) (*webhookOutput, error) {
		w, err := s.adminWebhook(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !ifMatch(in.IfMatch, w.Version) {
			return nil, huma.Error412PreconditionFailed("the webhook changed since the ETag in If-Match was read")
		}
		if err := s.checkWebhookInput(ctx, &in.Body, false); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if in.Body.URL != nil {
			w.URL = *in.Body.URL
		}
		if in.Body.Description != nil {
			w.Description = *in.Body.Description
		}
		if in.Body.EventTypes != nil {
			w.EventTypes = in.Body.EventTypes
		}
		if in.Body.Enabled != nil {
			w.Enabled = *in.Body.Enabled
			if w.Enabled {
				w.DisabledReason, w.FailingSince = "", nil
			}
		}
		w.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.WebhookRepo.UpdateWebhook(ctx, w, w.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &webhookOutput{ETag: etag(w.Version), Body: toWebhook(w)}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "delete-webhook", Method: http.MethodDelete, Path: "/v1/webhooks/{id}",
		Summary:     "Delete a subscription",
		Description: "Deletes the subscription and its delivery log; nothing more is sent to it. Admin keys only.", Tags: tags, DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *WebhookIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.WebhookRepo.DeleteWebhook(ctx, core.WebhookID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "rotate-webhook-secret", Method: http.MethodPost, Path: "/v1/webhooks/{id}/rotate-secret",
		Summary:     "Rotate the signing secret",
		Description: "Issues a new secret (in this response only). The old one keeps signing, as a second v1 entry in both signature headers, for the grace period (24 h) so receivers can switch without losing events. " + idempotencyHeaderDoc,
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		WebhookIDParam
		IdempotencyParam
	}) (*struct{ Body WebhookWithSecret }, error) {
		w, err := s.adminWebhook(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		until := now.Add(s.WebhookSender.Config().Rotation)
		w.OldSecret, w.OldSecretUntil = w.Secret, &until
		w.Secret = core.Secret(webhook.NewSecret())
		w.UpdatedAt = now
		if err := s.WebhookRepo.UpdateWebhook(ctx, w, w.Version); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &struct{ Body WebhookWithSecret }{Body: WebhookWithSecret{Webhook: toWebhook(w), Secret: w.Secret.Reveal()}}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/v1/webhooks/{id}/deliveries",
		Summary:     "Delivery log",
		Description: "Every delivery of the subscription, newest first: attempts, last status code, latency, error, next retry.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		WebhookIDParam
		ListParams
	}) (*deliveryList, error) {
		if _, err := s.adminWebhook(ctx, in.ID); err != nil {
			return nil, err
		}
		page, err := s.WebhookRepo.ListDeliveries(ctx, core.WebhookID(in.ID), in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &deliveryList{}
		out.Body.Items = make([]Delivery, 0, len(page.Items))
		for _, d := range page.Items {
			out.Body.Items = append(out.Body.Items, toDelivery(d))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "redeliver-webhook-delivery", Method: http.MethodPost, Path: "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
		Summary:     "Deliver an event again",
		Description: "Puts the delivery back in the queue, due now, whatever its status; the outcome appears in the delivery log. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusAccepted,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		WebhookIDParam
		DeliveryID string `path:"delivery_id" doc:"Delivery id, from the delivery log."`
		IdempotencyParam
	}) (*struct{}, error) {
		if _, err := s.adminWebhook(ctx, in.ID); err != nil {
			return nil, err
		}
		if err := s.WebhookRepo.Redeliver(ctx, core.WebhookID(in.ID), in.DeliveryID, time.Now()); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "ping-webhook", Method: http.MethodPost, Path: "/v1/webhooks/{id}/ping",
		Summary:     "Send a signed test event",
		Description: "Sends a webhook.ping event now and answers with the outcome; the attempt is in the delivery log. " + idempotencyHeaderDoc,
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		WebhookIDParam
		IdempotencyParam
	}) (*struct{ Body Delivery }, error) {
		w, err := s.adminWebhook(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		ev := core.NewEvent(core.EventWebhookPing, time.Now(), "", nil, core.WebhookEventData{WebhookID: string(w.ID)})
		d, err := s.WebhookRepo.AddDelivery(ctx, w.ID, ev)
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		ev.Sequence = d.EventSeq
		res := s.WebhookSender.Post(ctx, w, &ev)
		d.Attempts = 1
		d.Status = core.DeliveryFailed
		if res.Status >= 200 && res.Status <= 299 {
			d.Status = core.DeliverySucceeded
		}
		if err := s.WebhookRepo.RecordAttempt(ctx, d, res); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		d.LastAttemptAt, d.LastStatus, d.LastError, d.LastLatency = &res.At, res.Status, res.Error, res.Latency
		return &struct{ Body Delivery }{Body: toDelivery(d)}, nil
	})
}

func (s *server) adminWebhook(ctx context.Context, id string) (*core.Webhook, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, err
	}
	w, err := s.WebhookRepo.GetWebhook(ctx, core.WebhookID(id))
	if err != nil {
		return nil, s.problem(ctx, err, "path")
	}
	return w, nil
}
