package store

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// TestDeliveryWakeUps: the dispatcher is woken when a write queues a
// delivery, not by events no webhook takes; it learns when the next
// pending delivery is due.
func TestDeliveryWakeUps(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	wake, stop := db.SubscribeDeliveries()
	defer stop()
	woken := func() bool {
		select {
		case <-wake:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	}
	event := func(typ core.EventType) core.Event {
		return core.NewEvent(typ, time.Now(), "call:x", nil, map[string]string{"k": "v"})
	}
	if _, pending, err := db.NextDeliveryDue(ctx); err != nil || pending {
		t.Fatalf("next due with no webhook: pending %v, %v", pending, err)
	}

	tests := []struct {
		name   string
		setup  func()
		events []core.Event
		wake   bool
	}{
		{"no webhook", nil, []core.Event{event(core.EventCallAnswered)}, false},
		{"a webhook for other events", func() {
			now := time.Now().UTC()
			if err := db.CreateWebhook(ctx, &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example/h",
				EventTypes: []string{"call.ended"}, Enabled: true, Secret: "s3cret", Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			woken() // (updating webhooks wakes the dispatcher: one may have been enabled again)
		}, []core.Event{event(core.EventCallAnswered)}, false},
		{"an event the webhook takes", nil, []core.Event{event(core.EventCallEnded)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			if err := db.QueueEvents(tt.events...); err != nil {
				t.Fatal(err)
			}
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := woken(); got != tt.wake {
				t.Fatalf("woken %v, want %v", got, tt.wake)
			}
		})
	}
	at, pending, err := db.NextDeliveryDue(ctx)
	if err != nil || !pending || at.After(time.Now()) { // (due at once)
		t.Fatalf("next due: %v %v %v", at, pending, err)
	}
}
