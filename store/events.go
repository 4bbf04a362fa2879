package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.EventLog = (*DB)(nil)

// eventSubs are the channels woken after events are committed.
type eventSubs struct {
	mu sync.Mutex
	m  map[chan struct{}]struct{}
}

// AppendEvents stores events in the outbox and returns once they are
// committed; it fills in each event's Sequence. The events go through the
// write queue, after every runtime write queued before them.
func (db *DB) AppendEvents(ctx context.Context, events ...core.Event) error {
	if len(events) == 0 {
		return nil
	}
	return db.write(ctx, &writeReq{kind: writeEvents, events: events})
}

// insertEvents writes events and queues a delivery for every enabled webhook
// that subscribes to each, in the caller's transaction.
func (db *DB) insertEvents(ctx context.Context, tx *sqlx.Tx, events []core.Event) error {
	if len(events) == 0 {
		return nil
	}
	w := &txWriter{ctx: ctx, tx: tx, delivered: &db.delivered}
	hooks, err := w.enabledHooks()
	if err != nil {
		return err
	}
	return w.insertEvents(hooks, events)
}

// insertEvent writes one event and sets its Sequence.
func insertEvent(ctx context.Context, tx *sqlx.Tx, e *core.Event) error {
	return (&txWriter{ctx: ctx, tx: tx}).insertEvent(e)
}

// insertDelivery queues e for hook, due at once; its age counts from the event.
func (db *DB) insertDelivery(ctx context.Context, tx *sqlx.Tx, hook core.WebhookID, e *core.Event) error {
	return (&txWriter{ctx: ctx, tx: tx, delivered: &db.delivered}).insertDelivery(hook, e)
}

func (w *txWriter) insertEvents(hooks []hook, events []core.Event) error {
	for i := range events {
		e := &events[i]
		if err := w.insertEvent(e); err != nil {
			return err
		}
		for _, h := range hooks {
			if !matchesAny(h.types, e.Type) {
				continue
			}
			if err := w.insertDelivery(h.id, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *txWriter) insertEvent(e *core.Event) error {
	exts := ""
	if len(e.Extensions) > 0 {
		parts := make([]string, len(e.Extensions))
		for j, x := range e.Extensions {
			parts[j] = string(x)
		}
		exts = "," + strings.Join(parts, ",") + ","
	}
	res, err := w.exec(stmtEvent, e.ID, e.Type, micros(e.OccurredAt), e.OrderKey, exts, string(e.Data))
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Type, err)
	}
	e.Sequence, err = res.LastInsertId()
	if err == nil && w.firstSeq == 0 {
		w.firstSeq = e.Sequence
	}
	return err
}

func (w *txWriter) insertDelivery(hook core.WebhookID, e *core.Event) error {
	_, err := w.exec(stmtDelivery, core.NewOrderedID(core.PrefixDelivery), hook, e.Sequence, e.OrderKey, micros(e.OccurredAt))
	if err != nil {
		return fmt.Errorf("queue delivery of event %s: %w", e.Type, err)
	}
	if w.delivered != nil {
		w.delivered.Store(true)
	}
	return nil
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
		return db.insertEvents(ctx, tx, events)
	})
	if err == nil && len(events) > 0 {
		db.notifyEvents()
	}
	db.notifyDeliveries()
	return err
}

// SubscribeEvents returns a channel that receives a signal after events are
// committed, and a function to stop.
func (db *DB) SubscribeEvents() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.subs.mu.Lock()
	if db.subs.m == nil {
		db.subs.m = map[chan struct{}]struct{}{}
	}
	db.subs.m[ch] = struct{}{}
	db.subs.mu.Unlock()
	return ch, func() {
		db.subs.mu.Lock()
		delete(db.subs.m, ch)
		db.subs.mu.Unlock()
	}
}

func (db *DB) notifyEvents() {
	db.subs.mu.Lock()
	defer db.subs.mu.Unlock()
	for ch := range db.subs.m {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// SubscribeDeliveries returns a channel that receives a signal after
// webhook deliveries were queued or scheduled again (the dispatcher's
// wake-up: events no webhook subscribes to do not wake it), and a
// function to stop.
func (db *DB) SubscribeDeliveries() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.deliverySubs.mu.Lock()
	if db.deliverySubs.m == nil {
		db.deliverySubs.m = map[chan struct{}]struct{}{}
	}
	db.deliverySubs.m[ch] = struct{}{}
	db.deliverySubs.mu.Unlock()
	return ch, func() {
		db.deliverySubs.mu.Lock()
		delete(db.deliverySubs.m, ch)
		db.deliverySubs.mu.Unlock()
	}
}

// notifyDeliveries wakes delivery subscribers if a committed (or rolled
// back: a spurious wake-up costs one query) write queued a delivery.
func (db *DB) notifyDeliveries() {
	if !db.delivered.Swap(false) {
		return
	}
	db.wakeDeliveries()
}

func (db *DB) wakeDeliveries() {
	db.deliverySubs.mu.Lock()
	defer db.deliverySubs.mu.Unlock()
	for ch := range db.deliverySubs.m {
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

// EventsAfter returns up to limit events with a sequence above after, in
// order, including those queued before the call.
func (db *DB) EventsAfter(ctx context.Context, after int64, f EventFilter, limit int) ([]core.Event, error) {
	db.awaitFlushed(ctx)
	var out []core.Event
	for len(out) < limit {
		// Pings go to one webhook only, never to the stream.
		// Events not yet flushed wait (writeQueue.holdEvents).
		q := `SELECT seq, id, type, occurred_at, order_key, extensions, data FROM events
			WHERE seq > ? AND seq < ? AND type != 'webhook.ping'`
		args := []any{after, db.wq.eventsBelow()}
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
