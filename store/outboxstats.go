package store

import (
	"context"
	"fmt"
)

// OutboxStats is where the event outbox stands, for monitoring.
type OutboxStats struct {
	// LastSequence is the sequence of the newest event (0 when none).
	LastSequence int64
	// Pending counts the deliveries to enabled webhooks not yet made: due
	// now or waiting for a retry.
	Pending int64
	// OldestPending is the sequence of the oldest event with such a
	// delivery (0 when none).
	OldestPending int64
}

// Lag is how many events the webhooks are behind: the events from the oldest
// one still to deliver to the newest, 0 when every delivery is done.
func (s OutboxStats) Lag() int64 {
	if s.Pending == 0 || s.OldestPending == 0 {
		return 0
	}
	return max(s.LastSequence-s.OldestPending+1, 0)
}

// OutboxStats reads the state of the outbox: two indexed reads.
func (db *DB) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := db.r.QueryRowxContext(ctx, `SELECT COUNT(*), COALESCE(MIN(d.event_seq), 0)
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.status = 'pending' AND w.enabled = 1`).Scan(&st.Pending, &st.OldestPending)
	if err != nil {
		return st, fmt.Errorf("outbox stats: %w", err)
	}
	if st.LastSequence, err = db.LastEventSequence(ctx); err != nil {
		return st, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}
