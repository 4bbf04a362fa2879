package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var (
	_ core.RegistrationRepo = (*DB)(nil)
	_ core.BanRepo          = (*DB)(nil)
)

type registrationRow struct {
	ExtensionID  string `db:"extension_id"`
	Contact      string `db:"contact"`
	Username     string `db:"username"`
	Source       string `db:"source"`
	Transport    string `db:"transport"`
	UserAgent    string `db:"user_agent"`
	CallID       string `db:"call_id"`
	CSeq         int64  `db:"cseq"`
	RegisteredAt int64  `db:"registered_at"`
	ExpiresAt    int64  `db:"expires_at"`
}

// LoadRegistrations deletes the bindings expired at now and returns the others.
func (db *DB) LoadRegistrations(ctx context.Context, now time.Time) ([]core.Registration, error) {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM sip_registrations WHERE expires_at <= ?`, micros(now)); err != nil {
		return nil, fmt.Errorf("forget expired registrations: %w", err)
	}
	var rows []registrationRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT extension_id, contact, username, source, transport, user_agent,
		call_id, cseq, registered_at, expires_at FROM sip_registrations WHERE expires_at > ?
		ORDER BY extension_id, registered_at`, micros(now)); err != nil {
		return nil, fmt.Errorf("load registrations: %w", err)
	}
	out := make([]core.Registration, len(rows))
	for i, r := range rows {
		out[i] = core.Registration{ExtensionID: core.ExtensionID(r.ExtensionID), Contact: r.Contact, Username: r.Username,
			Source: r.Source, Transport: r.Transport, UserAgent: r.UserAgent, CallID: r.CallID, CSeq: uint32(r.CSeq),
			RegisteredAt: fromMicros(r.RegisteredAt), ExpiresAt: fromMicros(r.ExpiresAt)}
	}
	return out, nil
}

// SaveRegistrations writes a batch of binding changes in one transaction.
// Bindings of extensions deleted meanwhile are skipped.
func (db *DB) SaveRegistrations(ctx context.Context, upserts []core.Registration, removals []core.RegistrationKey) error {
	if len(upserts) == 0 && len(removals) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if len(upserts) > 0 {
			st, err := tx.PreparexContext(ctx, `INSERT INTO sip_registrations (extension_id, contact, username, source,
				transport, user_agent, call_id, cseq, registered_at, expires_at)
				SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM extensions WHERE id = ?)
				ON CONFLICT (extension_id, contact) DO UPDATE SET username = excluded.username, source = excluded.source,
				transport = excluded.transport, user_agent = excluded.user_agent, call_id = excluded.call_id,
				cseq = excluded.cseq, registered_at = excluded.registered_at, expires_at = excluded.expires_at`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range upserts {
				if _, err := st.ExecContext(ctx, r.ExtensionID, r.Contact, r.Username, r.Source, r.Transport, r.UserAgent,
					r.CallID, int64(r.CSeq), micros(r.RegisteredAt), micros(r.ExpiresAt), r.ExtensionID); err != nil {
					return fmt.Errorf("binding %s of %s: %w", r.Contact, r.ExtensionID, err)
				}
			}
		}
		if len(removals) > 0 {
			st, err := tx.PreparexContext(ctx, `DELETE FROM sip_registrations WHERE extension_id = ? AND contact = ?`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, k := range removals {
				if _, err := st.ExecContext(ctx, k.ExtensionID, k.Contact); err != nil {
					return fmt.Errorf("binding %s of %s: %w", k.Contact, k.ExtensionID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save registrations: %w", err)
	}
	return nil
}

type banRow struct {
	IP       string `db:"ip"`
	Since    int64  `db:"since"`
	Until    int64  `db:"until"`
	Failures int    `db:"failures"`
	Reason   string `db:"reason"`
}

// LoadBans deletes the bans over at now and returns the others, oldest first.
func (db *DB) LoadBans(ctx context.Context, now time.Time) ([]core.Ban, error) {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM sip_bans WHERE until <= ?`, micros(now)); err != nil {
		return nil, fmt.Errorf("forget expired bans: %w", err)
	}
	var rows []banRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT ip, since, until, failures, reason FROM sip_bans
		WHERE until > ? ORDER BY since, ip`, micros(now)); err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	out := make([]core.Ban, 0, len(rows))
	for _, r := range rows {
		ip, err := netip.ParseAddr(r.IP)
		if err != nil {
			continue // not written by SaveBans
		}
		out = append(out, core.Ban{IP: ip, Since: fromMicros(r.Since), Until: fromMicros(r.Until), Failures: r.Failures, Reason: r.Reason})
	}
	return out, nil
}

// SaveBans writes bans and deletes the lifted ones in one transaction.
func (db *DB) SaveBans(ctx context.Context, bans []core.Ban, lifted []netip.Addr) error {
	if len(bans) == 0 && len(lifted) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, b := range bans {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sip_bans (ip, since, until, failures, reason) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (ip) DO UPDATE SET since = excluded.since, until = excluded.until,
				failures = excluded.failures, reason = excluded.reason`,
				b.IP.Unmap().String(), micros(b.Since), micros(b.Until), b.Failures, b.Reason); err != nil {
				return fmt.Errorf("ban %s: %w", b.IP, err)
			}
		}
		for _, ip := range lifted {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sip_bans WHERE ip = ?`, ip.Unmap().String()); err != nil {
				return fmt.Errorf("lift ban %s: %w", ip, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save bans: %w", err)
	}
	return nil
}
