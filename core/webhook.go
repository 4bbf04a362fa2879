package core

import (
	"context"
	"time"
)

// WebhookID identifies a webhook subscription ("whk_...").
type WebhookID string

// PrefixWebhook and PrefixDelivery are the id prefixes of webhooks and deliveries.
const (
	PrefixWebhook  = "whk_"
	PrefixDelivery = "dlv_"
)

// Webhook is a subscription: events of the chosen types are POSTed, signed, to URL.
type Webhook struct {
	ID             WebhookID
	URL            string
	Description    string
	EventTypes     []string // exact types or "call.*"-style wildcards
	Enabled        bool
	DisabledReason string
	Secret         Secret
	// OldSecret still signs deliveries until OldSecretUntil, after a rotation.
	OldSecret      Secret
	OldSecretUntil *time.Time
	FailingSince   *time.Time
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Wants reports whether the webhook subscribes to t.
func (w *Webhook) Wants(t EventType) bool {
	for _, p := range w.EventTypes {
		if MatchEventType(p, t) {
			return true
		}
	}
	return false
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery states.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed" // given up after the retry window
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID            string
	WebhookID     WebhookID
	EventSeq      int64
	OrderKey      string
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt *time.Time
	LastStatus    int
	LastError     string
	LastLatency   time.Duration
	CreatedAt     time.Time
	Event         *Event // filled when delivering
}

// AttemptResult is the outcome of one HTTP attempt.
type AttemptResult struct {
	At      time.Time
	Status  int // 0 when no response arrived
	Error   string
	Latency time.Duration
}

// WebhookRepo stores subscriptions and their deliveries.
type WebhookRepo interface {
	CreateWebhook(ctx context.Context, w *Webhook) error
	GetWebhook(ctx context.Context, id WebhookID) (*Webhook, error)
	ListWebhooks(ctx context.Context, p PageRequest) (Page[*Webhook], error)
	UpdateWebhook(ctx context.Context, w *Webhook, expectVersion int64) error
	DeleteWebhook(ctx context.Context, id WebhookID) error
	// DisableWebhook turns a subscription off with a reason and appends ev in
	// the same transaction.
	DisableWebhook(ctx context.Context, id WebhookID, reason string, ev Event) error

	// DueDeliveries returns pending deliveries whose time has come and that no
	// earlier pending delivery of the same webhook and order key holds back,
	// skipping those in exclude (already in flight), with their events.
	DueDeliveries(ctx context.Context, now time.Time, limit int, exclude map[string]bool) ([]*Delivery, error)
	// RecordAttempt stores an attempt; next is the new state of the delivery.
	RecordAttempt(ctx context.Context, d *Delivery, r AttemptResult) error
	// MarkWebhookHealth records a subscription's first failure time (nil: healthy).
	MarkWebhookHealth(ctx context.Context, id WebhookID, failingSince *time.Time) error
	ListDeliveries(ctx context.Context, id WebhookID, p PageRequest) (Page[*Delivery], error)
	GetDelivery(ctx context.Context, id WebhookID, deliveryID string) (*Delivery, error)
	// Redeliver schedules a delivery again, now.
	Redeliver(ctx context.Context, id WebhookID, deliveryID string, now time.Time) error
	// AddDelivery queues an event for one webhook only (a ping).
	AddDelivery(ctx context.Context, id WebhookID, ev Event) (*Delivery, error)
}
