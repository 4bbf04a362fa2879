package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// IdempotentRecord is what a first request under an Idempotency-Key produced.
// Status 0 means that request is still being handled.
type IdempotentRecord struct {
	RequestHash string
	Status      int
	Headers     map[string]string
	Body        []byte
}

// How long a claim without a result blocks its key before it counts as abandoned
// (the server stopped while handling it).
const idempotencyClaimTimeout = 2 * time.Minute

// ClaimIdempotencyKey claims (scope, key) for a new request. It returns nil when
// the claim succeeded, or the record of the earlier request that holds the key.
// Records older than ttl are forgotten.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, scope, key, requestHash string, ttl time.Duration) (*IdempotentRecord, error) {
	now := time.Now()
	var rec *IdempotentRecord
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			RequestHash string `db:"request_hash"`
			Status      int    `db:"status"`
			Headers     string `db:"headers"`
			Body        []byte `db:"body"`
			CreatedAt   int64  `db:"created_at"`
		}
		err := tx.GetContext(ctx, &row, `SELECT request_hash, status, headers, body, created_at
			FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			age := now.Sub(fromMicros(row.CreatedAt))
			abandoned := row.Status == 0 && age > idempotencyClaimTimeout
			if age <= ttl && !abandoned {
				rec = &IdempotentRecord{RequestHash: row.RequestHash, Status: row.Status}
				if row.Status != 0 {
					body, err := db.sealer.open(row.Body)
					if err != nil {
						return err
					}
					rec.Body = []byte(body)
				}
				return json.Unmarshal([]byte(row.Headers), &rec.Headers)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?)`,
			scope, key, requestHash, micros(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return rec, nil
}

// CompleteIdempotencyKey stores the response of the request that claimed the
// key. The body is sealed: it can carry a secret shown once (a new SIP password).
func (db *DB) CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, headers map[string]string, body []byte) error {
	h, _ := json.Marshal(headers)
	_, err := db.w.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, headers = ?, body = ? WHERE scope = ? AND key = ?`,
		status, string(h), db.sealer.seal(string(body)), scope, key)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey drops a claim whose request failed in a way worth retrying.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
	return err
}

// PurgeIdempotencyKeys deletes records created before the cutoff.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, micros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
