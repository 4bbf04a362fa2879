package store

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.AllowlistRepo = (*DB)(nil)

type allowlistRow struct {
	ID          string `db:"id"`
	CIDR        string `db:"cidr"`
	Description string `db:"description"`
	CreatedAt   int64  `db:"created_at"`
}

func (r *allowlistRow) entry() (*core.AllowlistEntry, error) {
	p, err := netip.ParsePrefix(r.CIDR)
	if err != nil {
		return nil, fmt.Errorf("allow-list entry %s: %w", r.ID, err)
	}
	return &core.AllowlistEntry{ID: core.AllowlistID(r.ID), Network: p, Description: r.Description, CreatedAt: fromMicros(r.CreatedAt)}, nil
}

// CreateAllowlistEntry stores e; a network already listed is a conflict on cidr.
func (db *DB) CreateAllowlistEntry(ctx context.Context, e *core.AllowlistEntry) error {
	cidr := e.Network.Masked().String()
	_, err := db.w.ExecContext(ctx, `INSERT INTO sip_allowlist (id, cidr, description, created_at) VALUES (?, ?, ?, ?)`,
		e.ID, cidr, e.Description, micros(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("create allow-list entry: %w", uniqueViolation(err, "allow-list entry", map[string]string{"cidr": cidr}))
	}
	return nil
}

// DeleteAllowlistEntry removes one entry.
func (db *DB) DeleteAllowlistEntry(ctx context.Context, id core.AllowlistID) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sip_allowlist WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete allow-list entry %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("allow-list entry %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// ListAllowlist returns one page of entries, oldest first.
func (db *DB) ListAllowlist(ctx context.Context, p core.PageRequest) (core.Page[*core.AllowlistEntry], error) {
	limit := p.Size()
	q := `SELECT id, cidr, description, created_at FROM sip_allowlist`
	var args []any
	if p.Cursor != "" {
		var at int64
		var id string
		if err := core.DecodeCursor(p.Cursor, &at, &id); err != nil {
			return core.Page[*core.AllowlistEntry]{}, err
		}
		q += ` WHERE created_at > ? OR (created_at = ? AND id > ?)`
		args = append(args, at, at, id)
	}
	args = append(args, limit+1)
	var rows []allowlistRow
	if err := db.r.SelectContext(ctx, &rows, q+` ORDER BY created_at, id LIMIT ?`, args...); err != nil {
		return core.Page[*core.AllowlistEntry]{}, fmt.Errorf("list allow-list: %w", err)
	}
	rows, next := core.TrimPage(rows, limit, func(r allowlistRow) []any { return []any{r.CreatedAt, r.ID} })
	page := core.Page[*core.AllowlistEntry]{Items: make([]*core.AllowlistEntry, 0, len(rows)), NextCursor: next}
	for i := range rows {
		e, err := rows[i].entry()
		if err != nil {
			return core.Page[*core.AllowlistEntry]{}, err
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// AllowlistNetworks returns every allowed network.
func (db *DB) AllowlistNetworks(ctx context.Context) ([]netip.Prefix, error) {
	var cidrs []string
	if err := db.r.SelectContext(ctx, &cidrs, `SELECT cidr FROM sip_allowlist ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("read allow-list: %w", err)
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("allow-list network %q: %w", c, err)
		}
		out = append(out, p)
	}
	return out, nil
}
