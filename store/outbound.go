package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.OutboundRouteRepo = (*DB)(nil)

type outboundRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Patterns  string `db:"patterns"`
	Prepend   string `db:"prepend"`
	TrunkIDs  string `db:"trunk_ids"`
	CallerID  string `db:"caller_id"`
	Enabled   bool   `db:"enabled"`
	Position  int    `db:"position"`
	Version   int64  `db:"version"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
}

const outboundColumns = `id, name, patterns, prepend, trunk_ids, caller_id, enabled, position, version, created_at, updated_at`

func toOutboundRow(r *core.OutboundRoute) outboundRow {
	ids := make([]string, len(r.TrunkIDs))
	for i, t := range r.TrunkIDs {
		ids[i] = string(t)
	}
	return outboundRow{ID: string(r.ID), Name: r.Name, Patterns: strings.Join(r.Patterns, ","), Prepend: r.Prepend,
		TrunkIDs: strings.Join(ids, ","), CallerID: r.CallerID, Enabled: r.Enabled, Position: r.Position,
		Version: r.Version, CreatedAt: micros(r.CreatedAt), UpdatedAt: micros(r.UpdatedAt)}
}

func (o *outboundRow) route() *core.OutboundRoute {
	var ids []core.TrunkID
	for _, t := range splitTypes(o.TrunkIDs) {
		ids = append(ids, core.TrunkID(t))
	}
	return &core.OutboundRoute{ID: core.OutboundRouteID(o.ID), Name: o.Name, Patterns: splitTypes(o.Patterns), Prepend: o.Prepend,
		TrunkIDs: ids, CallerID: o.CallerID, Enabled: o.Enabled, Position: o.Position, Version: o.Version,
		CreatedAt: fromMicros(o.CreatedAt), UpdatedAt: fromMicros(o.UpdatedAt)}
}

func trunksExist(ctx context.Context, q sqlx.QueryerContext, ids []core.TrunkID) error {
	var v core.ValidationError
	for _, id := range ids {
		var one int
		if sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM trunks WHERE id = ?`, id) != nil {
			v.Add("trunk_ids", "names no trunk", id)
		}
	}
	return v.Err()
}

// CreateOutboundRoute stores a route; Position 0 puts it last.
func (db *DB) CreateOutboundRoute(ctx context.Context, r *core.OutboundRoute) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := trunksExist(ctx, tx, r.TrunkIDs); err != nil {
			return err
		}
		if r.Position == 0 {
			if err := tx.GetContext(ctx, &r.Position, `SELECT COALESCE(MAX(position), 0) + 1 FROM outbound_routes`); err != nil {
				return err
			}
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO outbound_routes (`+outboundColumns+`) VALUES (:id, :name, :patterns,
			:prepend, :trunk_ids, :caller_id, :enabled, :position, :version, :created_at, :updated_at)`, toOutboundRow(r))
		return err
	})
}

// GetOutboundRoute loads one route.
func (db *DB) GetOutboundRoute(ctx context.Context, id core.OutboundRouteID) (*core.OutboundRoute, error) {
	var o outboundRow
	if err := db.r.GetContext(ctx, &o, `SELECT `+outboundColumns+` FROM outbound_routes WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "outbound route", id)
	}
	return o.route(), nil
}

// ListOutboundRoutes returns every route by position.
func (db *DB) ListOutboundRoutes(ctx context.Context) ([]*core.OutboundRoute, error) {
	var rows []outboundRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+outboundColumns+` FROM outbound_routes ORDER BY position, id`); err != nil {
		return nil, err
	}
	out := make([]*core.OutboundRoute, len(rows))
	for i := range rows {
		out[i] = rows[i].route()
	}
	return out, nil
}

// UpdateOutboundRoute writes r if its stored version is still expectVersion.
func (db *DB) UpdateOutboundRoute(ctx context.Context, r *core.OutboundRoute, expectVersion int64) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM outbound_routes WHERE id = ?`, r.ID); err != nil {
			return notFound(err, "outbound route", r.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("outbound route %s changed: %w", r.ID, core.ErrPrecondition)
		}
		if err := trunksExist(ctx, tx, r.TrunkIDs); err != nil {
			return err
		}
		row := toOutboundRow(r)
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE outbound_routes SET name = :name, patterns = :patterns, prepend = :prepend,
			trunk_ids = :trunk_ids, caller_id = :caller_id, enabled = :enabled, position = :position, version = :version,
			updated_at = :updated_at WHERE id = :id`, row)
		if err == nil {
			r.Version = row.Version
		}
		return err
	})
}

// DeleteOutboundRoute removes a route.
func (db *DB) DeleteOutboundRoute(ctx context.Context, id core.OutboundRouteID) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM outbound_routes WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("outbound route %s: %w", id, core.ErrNotFound)
	}
	return nil
}
