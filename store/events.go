package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.EventLog = (*DB)(nil)

// eventWriter commits appended events in groups: every caller waits for the
// commit of its events, and one transaction (one fsync) serves every caller
// that arrived meanwhile.
type eventWriter struct {
	reqs chan appendReq
	quit chan struct{}
	done chan struct{}

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

type appendReq struct {
	events []core.Event
	done   chan error
}

var errClosed = errors.New("store: closed")

func (db *DB) startEventWriter() {
	db.ev = &eventWriter{reqs: make(chan appendReq, 1024), quit: make(chan struct{}), done: make(chan struct{}), subs: map[chan struct{}]struct{}{}}
	go db.writeEvents()
}

// AppendEvents stores events in the outbox and returns once they are
// committed; it fills in each event's Sequence.
func (db *DB) AppendEvents(ctx context.Context, events ...core.Event) error {
	if len(events) == 0 {
		return nil
	}
	req := appendReq{events: events, done: make(chan error, 1)}
	select {
	case db.ev.reqs <- req:
	case <-db.ev.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) writeEvents() {
	defer close(db.ev.done)
	for {
		var first appendReq
		select {
		case first = <-db.ev.reqs:
		case <-db.ev.quit:
			// Commit what is already queued before stopping.
			for {
				select {
				case r := <-db.ev.reqs:
					db.commitEvents([]appendReq{r})
				default:
					return
				}
			}
		}
		batch := []appendReq{first}
	drain:
		for len(batch) < 512 {
			select {
			case r := <-db.ev.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.commitEvents(batch)
	}
}

func (db *DB) commitEvents(batch []appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, r := range batch {
			if err := insertEvents(ctx, tx, r.events); err != nil {
				return err
			}
		}
		return nil
	})
	for _, r := range batch {
		r.done <- err
	}
	if err == nil {
		db.notifyEvents()
	}
}

// insertEvents writes events and queues a delivery for every enabled webhook
// that subscribes to each, in the caller's transaction.
func insertEvents(ctx context.Context, tx *sqlx.Tx, events []core.Event) error {
	if len(events) == 0 {
		return nil
	}
	var rows []struct {
		ID    string `db:"id"`
		Types string `db:"event_types"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT id, event_types FROM webhooks WHERE enabled = 1`); err != nil {
		return err
	}
	type hook struct {
		id    core.WebhookID
		types []string
	}
	hooks := make([]hook, len(rows))
	for i, r := range rows {
		hooks[i] = hook{core.WebhookID(r.ID), splitTypes(r.Types)}
	}
	for i := range events {
		e := &events[i]
		if err := insertEvent(ctx, tx, e); err != nil {
			return err
		}
		for _, h := range hooks {
			if !matchesAny(h.types, e.Type) {
				continue
			}
			if err := insertDelivery(ctx, tx, h.id, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertDelivery queues e for hook, due at once; its age counts from the event.
// insertEvent writes one event and sets its Sequence.
func insertEvent(ctx context.Context, tx *sqlx.Tx, e *core.Event) error {
	exts := ""
	if len(e.Extensions) > 0 {
		parts := make([]string, len(e.Extensions))
		for j, x := range e.Extensions {
			parts[j] = string(x)
		}
		exts = "," + strings.Join(parts, ",") + ","
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, occurred_at, order_key, extensions, data) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, micros(e.OccurredAt), e.OrderKey, exts, string(e.Data))
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Type, err)
	}
	e.Sequence, err = res.LastInsertId()
	return err
}

func insertDelivery(ctx context.Context, tx *sqlx.Tx, hook core.WebhookID, e *core.Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, event_seq, order_key, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, 0, ?)`, core.NewID(core.PrefixDelivery), hook, e.Sequence, e.OrderKey, micros(e.OccurredAt))
	return err
}

func splitTypes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func matchesAny(patterns []string, t core.EventType) bool {
	for _, p := range patterns {
		if core.MatchEventType(p, t) {
			return true
		}
	}
	return false
}

// commitWithEvents runs fn and appends events in one transaction, then wakes
// event subscribers.
func (db *DB) commitWithEvents(ctx context.Context, events []core.Event, fn func(tx *sqlx.Tx) error) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err == nil && len(events) > 0 {
		db.notifyEvents()
	}
	return err
}

// SubscribeEvents returns a channel that receives a signal after events are
// committed, and a function to stop.
func (db *DB) SubscribeEvents() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.ev.mu.Lock()
	db.ev.subs[ch] = struct{}{}
	db.ev.mu.Unlock()
	return ch, func() {
		db.ev.mu.Lock()
		delete(db.ev.subs, ch)
		db.ev.mu.Unlock()
	}
}

func (db *DB) notifyEvents() {
	db.ev.mu.Lock()
	defer db.ev.mu.Unlock()
	for ch := range db.ev.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

type eventRow struct {
	Seq        int64  `db:"seq"`
	ID         string `db:"id"`
	Type       string `db:"type"`
	OccurredAt int64  `db:"occurred_at"`
	OrderKey   string `db:"order_key"`
	Extensions string `db:"extensions"`
	Data       string `db:"data"`
}

func (r *eventRow) event() core.Event {
	var exts []core.ExtensionID
	for _, x := range strings.Split(strings.Trim(r.Extensions, ","), ",") {
		if x != "" {
			exts = append(exts, core.ExtensionID(x))
		}
	}
	return core.Event{ID: r.ID, Sequence: r.Seq, Type: core.EventType(r.Type), OccurredAt: fromMicros(r.OccurredAt),
		OrderKey: r.OrderKey, Extensions: exts, Data: []byte(r.Data)}
}

// EventFilter narrows a read of the outbox.
type EventFilter struct {
	Types     []string         // patterns; empty means all
	Extension core.ExtensionID // only events concerning this extension
}

// EventsAfter returns up to limit events with a sequence above after, in order.
func (db *DB) EventsAfter(ctx context.Context, after int64, f EventFilter, limit int) ([]core.Event, error) {
	var out []core.Event
	for len(out) < limit {
		// Pings go to one webhook only, never to the stream.
		q := `SELECT seq, id, type, occurred_at, order_key, extensions, data FROM events WHERE seq > ? AND type != 'webhook.ping'`
		args := []any{after}
		if f.Extension != "" {
			q += ` AND extensions LIKE ? ESCAPE '\'`
			args = append(args, likePattern("%,", string(f.Extension), ",%"))
		}
		q += ` ORDER BY seq LIMIT 500`
		var rows []eventRow
		if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		for i := range rows {
			after = rows[i].Seq
			if len(f.Types) > 0 && !matchesAny(f.Types, core.EventType(rows[i].Type)) {
				continue
			}
			out = append(out, rows[i].event())
			if len(out) == limit {
				break
			}
		}
		if len(rows) < 500 {
			break
		}
	}
	return out, nil
}

// LastEventSequence is the sequence of the newest event (0 when none).
func (db *DB) LastEventSequence(ctx context.Context) (int64, error) {
	var seq int64
	err := db.r.GetContext(ctx, &seq, `SELECT COALESCE(MAX(seq), 0) FROM events`)
	return seq, err
}

// PurgeEvents deletes events older than the cutoff that no pending delivery
// still needs, and finished deliveries older than the cutoff.
func (db *DB) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?`, micros(before)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE occurred_at < ?
			AND seq NOT IN (SELECT event_seq FROM webhook_deliveries)`, micros(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
