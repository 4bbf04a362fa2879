package webhook

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// dueRepo tells when the next delivery is due; nothing else is called.
type dueRepo struct {
	core.WebhookRepo
	at      time.Time
	pending bool
	err     error
}

func (r dueRepo) NextDeliveryDue(context.Context) (time.Time, bool, error) {
	return r.at, r.pending, r.err
}

// TestIdle: the dispatcher sleeps until the next delivery is due, a
// minute at most when nothing is pending, and polls when it cannot tell.
func TestIdle(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		repo core.WebhookRepo
		want time.Duration
	}{
		{"nothing pending", dueRepo{}, maxIdle},
		{"due in 3 s", dueRepo{at: now.Add(3 * time.Second), pending: true}, 3 * time.Second},
		{"overdue", dueRepo{at: now.Add(-time.Hour), pending: true}, 10 * time.Millisecond},
		{"due in a day", dueRepo{at: now.Add(24 * time.Hour), pending: true}, maxIdle},
		{"repository failing", dueRepo{err: errors.New("disk")}, pollIdle},
		{"repository that cannot tell", struct{ core.WebhookRepo }{}, pollIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(Config{}, tt.repo, slog.New(slog.DiscardHandler))
			d.Now = func() time.Time { return now }
			if got := d.idle(context.Background()); got != tt.want {
				t.Fatalf("idle %v, want %v", got, tt.want)
			}
		})
	}
}
