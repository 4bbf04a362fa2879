package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.WebhookRepo = (*DB)(nil)

type webhookRow struct {
	ID              string        `db:"id"`
	URL             string        `db:"url"`
	Description     string        `db:"description"`
	EventTypes      string        `db:"event_types"`
	Enabled         bool          `db:"enabled"`
	DisabledReason  string        `db:"disabled_reason"`
	SecretSealed    []byte        `db:"secret_sealed"`
	OldSecretSealed []byte        `db:"old_secret_sealed"`
	OldSecretUntil  sql.NullInt64 `db:"old_secret_until"`
	FailingSince    sql.NullInt64 `db:"failing_since"`
	Version         int64         `db:"version"`
	CreatedAt       int64         `db:"created_at"`
	UpdatedAt       int64         `db:"updated_at"`
}

const webhookColumns = `id, url, description, event_types, enabled, disabled_reason, secret_sealed,
	old_secret_sealed, old_secret_until, failing_since, version, created_at, updated_at`

func (db *DB) webhookToRow(w *core.Webhook) webhookRow {
	r := webhookRow{
		ID: string(w.ID), URL: w.URL, Description: w.Description, EventTypes: strings.Join(w.EventTypes, ","),
		Enabled: w.Enabled, DisabledReason: w.DisabledReason, SecretSealed: db.sealer.seal(w.Secret.Reveal()),
		OldSecretUntil: optMicros(w.OldSecretUntil), FailingSince: optMicros(w.FailingSince),
		Version: w.Version, CreatedAt: micros(w.CreatedAt), UpdatedAt: micros(w.UpdatedAt),
	}
	if w.OldSecret != "" {
		r.OldSecretSealed = db.sealer.seal(w.OldSecret.Reveal())
	}
	return r
}

func (db *DB) rowToWebhook(r *webhookRow) (*core.Webhook, error) {
	secret, err := db.sealer.open(r.SecretSealed)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", r.ID, err)
	}
	w := &core.Webhook{
		ID: core.WebhookID(r.ID), URL: r.URL, Description: r.Description, EventTypes: splitTypes(r.EventTypes),
		Enabled: r.Enabled, DisabledReason: r.DisabledReason, Secret: core.Secret(secret),
		OldSecretUntil: optTime(r.OldSecretUntil), FailingSince: optTime(r.FailingSince),
		Version: r.Version, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
	}
	if len(r.OldSecretSealed) > 0 {
		old, err := db.sealer.open(r.OldSecretSealed)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", r.ID, err)
		}
		w.OldSecret = core.Secret(old)
	}
	return w, nil
}

// CreateWebhook stores a subscription.
func (db *DB) CreateWebhook(ctx context.Context, w *core.Webhook) error {
	defer db.wq.hooksChanged()
	_, err := db.w.NamedExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (:id, :url, :description,
		:event_types, :enabled, :disabled_reason, :secret_sealed, :old_secret_sealed, :old_secret_until,
		:failing_since, :version, :created_at, :updated_at)`, db.webhookToRow(w))
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	return nil
}

// GetWebhook loads one subscription with its secrets.
func (db *DB) GetWebhook(ctx context.Context, id core.WebhookID) (*core.Webhook, error) {
	var r webhookRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "webhook", id)
	}
	return db.rowToWebhook(&r)
}

// ListWebhooks returns one page of subscriptions ordered by id.
func (db *DB) ListWebhooks(ctx context.Context, p core.PageRequest) (core.Page[*core.Webhook], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*core.Webhook]{}, err
		}
	}
	var rows []webhookRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+webhookColumns+` FROM webhooks WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1); err != nil {
		return core.Page[*core.Webhook]{}, fmt.Errorf("list webhooks: %w", err)
	}
	rows, next := core.TrimPage(rows, limit, func(r webhookRow) []any { return []any{r.ID} })
	page := core.Page[*core.Webhook]{Items: make([]*core.Webhook, 0, len(rows))}
	page.NextCursor = next
	for i := range rows {
		w, err := db.rowToWebhook(&rows[i])
		if err != nil {
			return core.Page[*core.Webhook]{}, err
		}
		page.Items = append(page.Items, w)
	}
	return page, nil
}

// UpdateWebhook writes w if its stored version is still expectVersion.
func (db *DB) UpdateWebhook(ctx context.Context, w *core.Webhook, expectVersion int64) error {
	// A subscription enabled again has deliveries waiting for it.
	defer db.wakeDeliveries()
	defer db.wq.hooksChanged()
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM webhooks WHERE id = ?`, w.ID); err != nil {
			return notFound(err, "webhook", w.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("webhook %s is at version %d, not %d: %w", w.ID, current, expectVersion, core.ErrPrecondition)
		}
		row := db.webhookToRow(w)
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE webhooks SET url = :url, description = :description,
			event_types = :event_types, enabled = :enabled, disabled_reason = :disabled_reason,
			secret_sealed = :secret_sealed, old_secret_sealed = :old_secret_sealed,
			old_secret_until = :old_secret_until, failing_since = :failing_since, version = :version,
			updated_at = :updated_at WHERE id = :id`, row)
		if err == nil {
			w.Version = row.Version
		}
		return err
	})
}

// DeleteWebhook removes a subscription and its deliveries.
func (db *DB) DeleteWebhook(ctx context.Context, id core.WebhookID) error {
	defer db.wq.hooksChanged()
	res, err := db.w.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// DisableWebhook turns a subscription off and appends ev in the same transaction.
func (db *DB) DisableWebhook(ctx context.Context, id core.WebhookID, reason string, ev core.Event) error {
	defer db.wq.hooksChanged()
	return db.commitWithEvents(ctx, []core.Event{ev}, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhooks SET enabled = 0, disabled_reason = ?, version = version + 1,
			updated_at = ? WHERE id = ?`, reason, micros(time.Now()), id)
		return err
	})
}

// MarkWebhookHealth records when a subscription started failing (nil: healthy).
func (db *DB) MarkWebhookHealth(ctx context.Context, id core.WebhookID, failingSince *time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE webhooks SET failing_since = ? WHERE id = ?`, optMicros(failingSince), id)
	return err
}

type deliveryRow struct {
	ID            string        `db:"id"`
	WebhookID     string        `db:"webhook_id"`
	EventSeq      int64         `db:"event_seq"`
	OrderKey      string        `db:"order_key"`
	Status        string        `db:"status"`
	Attempts      int           `db:"attempts"`
	NextAttemptAt int64         `db:"next_attempt_at"`
	LastAttemptAt sql.NullInt64 `db:"last_attempt_at"`
	LastStatus    int           `db:"last_status"`
	LastError     string        `db:"last_error"`
	LastLatencyMs int64         `db:"last_latency_ms"`
	CreatedAt     int64         `db:"created_at"`
}

const deliveryColumns = `d.id, d.webhook_id, d.event_seq, d.order_key, d.status, d.attempts, d.next_attempt_at,
	d.last_attempt_at, d.last_status, d.last_error, d.last_latency_ms, d.created_at`

func (r *deliveryRow) delivery() *core.Delivery {
	return &core.Delivery{
		ID: r.ID, WebhookID: core.WebhookID(r.WebhookID), EventSeq: r.EventSeq, OrderKey: r.OrderKey,
		Status: core.DeliveryStatus(r.Status), Attempts: r.Attempts, NextAttemptAt: fromMicros(r.NextAttemptAt),
		LastAttemptAt: optTime(r.LastAttemptAt), LastStatus: r.LastStatus, LastError: r.LastError,
		LastLatency: time.Duration(r.LastLatencyMs) * time.Millisecond, CreatedAt: fromMicros(r.CreatedAt),
	}
}

// DueDeliveries returns pending deliveries that are due and not held back by
// an earlier pending delivery of the same webhook and order key, with their events.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int, exclude map[string]bool) ([]*core.Delivery, error) {
	var rows []deliveryRow
	// Deliveries of events not yet flushed wait (writeQueue.holdEvents).
	below := db.wq.eventsBelow()
	err := db.r.SelectContext(ctx, &rows, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1 AND d.event_seq < ?
		AND (d.order_key = '' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id
			AND p.order_key = d.order_key AND p.status = 'pending' AND p.event_seq < d.event_seq))
		ORDER BY d.event_seq LIMIT ?`, micros(now), below, limit+len(exclude))
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	out := make([]*core.Delivery, 0, len(rows))
	seqs := make([]any, 0, len(rows))
	for i := range rows {
		if exclude[rows[i].ID] {
			continue
		}
		out = append(out, rows[i].delivery())
		seqs = append(seqs, rows[i].EventSeq)
		if len(out) == limit {
			break
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT seq, id, type, occurred_at, order_key, extensions, data FROM events WHERE seq IN (?)`, seqs)
	if err != nil {
		return nil, err
	}
	var evs []eventRow
	if err := db.r.SelectContext(ctx, &evs, q, args...); err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	bySeq := make(map[int64]*core.Event, len(evs))
	for i := range evs {
		e := evs[i].event()
		bySeq[e.Sequence] = &e
	}
	kept := out[:0]
	for _, d := range out {
		if d.Event = bySeq[d.EventSeq]; d.Event != nil {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// RecordAttempt stores the outcome of an attempt and the delivery's new state.
func (db *DB) RecordAttempt(ctx context.Context, d *core.Delivery, r core.AttemptResult) error {
	_, err := db.w.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
		last_attempt_at = ?, last_status = ?, last_error = ?, last_latency_ms = ? WHERE id = ?`,
		d.Status, d.Attempts, micros(d.NextAttemptAt), micros(r.At), r.Status, r.Error, r.Latency.Milliseconds(), d.ID)
	return err
}

// ListDeliveries returns a webhook's deliveries, newest first.
func (db *DB) ListDeliveries(ctx context.Context, id core.WebhookID, p core.PageRequest) (core.Page[*core.Delivery], error) {
	limit := p.Size()
	before := int64(1<<62 - 1)
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &before); err != nil {
			return core.Page[*core.Delivery]{}, err
		}
	}
	var rows []deliveryRow
	err := db.r.SelectContext(ctx, &rows, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		WHERE d.webhook_id = ? AND d.event_seq < ? ORDER BY d.event_seq DESC LIMIT ?`, id, before, limit+1)
	if err != nil {
		return core.Page[*core.Delivery]{}, fmt.Errorf("list deliveries: %w", err)
	}
	rows, next := core.TrimPage(rows, limit, func(r deliveryRow) []any { return []any{r.EventSeq} })
	page := core.Page[*core.Delivery]{Items: make([]*core.Delivery, 0, len(rows)), NextCursor: next}
	for i := range rows {
		page.Items = append(page.Items, rows[i].delivery())
	}
	return page, nil
}

// GetDelivery loads one delivery of a webhook.
func (db *DB) GetDelivery(ctx context.Context, id core.WebhookID, deliveryID string) (*core.Delivery, error) {
	var r deliveryRow
	err := db.r.GetContext(ctx, &r, `SELECT `+deliveryColumns+` FROM webhook_deliveries d WHERE d.webhook_id = ? AND d.id = ?`, id, deliveryID)
	if err != nil {
		return nil, notFound(err, "delivery", deliveryID)
	}
	return r.delivery(), nil
}

// Redeliver schedules a delivery again now.
func (db *DB) Redeliver(ctx context.Context, id core.WebhookID, deliveryID string, now time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?
		WHERE webhook_id = ? AND id = ?`, micros(now), id, deliveryID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delivery %s: %w", deliveryID, core.ErrNotFound)
	}
	db.notifyEvents()
	db.wakeDeliveries()
	return nil
}

// AddDelivery appends ev and queues it for one webhook only.
func (db *DB) AddDelivery(ctx context.Context, id core.WebhookID, ev core.Event) (*core.Delivery, error) {
	var d *core.Delivery
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := insertEvent(ctx, tx, &ev); err != nil {
			return err
		}
		if err := db.insertDelivery(ctx, tx, id, &ev); err != nil {
			return err
		}
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, `SELECT `+deliveryColumns+` FROM webhook_deliveries d WHERE d.event_seq = ? AND d.webhook_id = ?`, ev.Sequence, id); err != nil {
			return err
		}
		d = r.delivery()
		return nil
	})
	if err == nil {
		db.notifyEvents()
	}
	db.notifyDeliveries()
	return d, err
}

// NextDeliveryDue is when the earliest pending delivery to an enabled
// webhook is due; false when none is pending.
func (db *DB) NextDeliveryDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := db.r.GetContext(ctx, &next, `SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d
		JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' AND w.enabled = 1`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due delivery: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(next.Int64), true, nil
}
