package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.NumberRepo = (*DB)(nil)

type numberRow struct {
	ID               string         `db:"id"`
	Number           string         `db:"number"`
	Name             string         `db:"name"`
	CallerIDName     string         `db:"caller_id_name"`
	Kind             string         `db:"kind"`
	Direction        string         `db:"direction"`
	TrunkID          sql.NullString `db:"trunk_id"`
	RouteType        string         `db:"route_type"`
	RouteExtensionID sql.NullString `db:"route_extension_id"`
	RouteNumber      string         `db:"route_number"`
	RecordInbound    bool           `db:"record_inbound"`
	RecordOutbound   bool           `db:"record_outbound"`
	BlockCallerID    bool           `db:"block_caller_id"`
	BillingGroup     string         `db:"billing_group"`
	CallPlanID       sql.NullString `db:"call_plan_id"`
	MOHClassID       sql.NullString `db:"moh_class_id"`
	Version          int64          `db:"version"`
	CreatedAt        int64          `db:"created_at"`
	UpdatedAt        int64          `db:"updated_at"`
}

const numberColumns = `id, number, name, caller_id_name, kind, direction, trunk_id, route_type, route_extension_id,
	route_number, record_inbound, record_outbound, block_caller_id, billing_group, call_plan_id, moh_class_id, version,
	created_at, updated_at`

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func toNumberRow(n *core.PhoneNumber) numberRow {
	return numberRow{ID: string(n.ID), Number: n.Number, Name: n.Name, CallerIDName: n.CallerIDName, Kind: string(n.Kind),
		Direction: n.Direction, TrunkID: nullString(string(n.TrunkID)), RouteType: string(n.Route.Type),
		RouteExtensionID: nullString(string(n.Route.ExtensionID)), RouteNumber: n.Route.Number,
		RecordInbound: n.RecordInbound, RecordOutbound: n.RecordOutbound, BlockCallerID: n.BlockCallerID,
		BillingGroup: n.BillingGroup, CallPlanID: nullString(n.Route.CallPlanID), MOHClassID: nullString(n.MOHClassID),
		Version: n.Version, CreatedAt: micros(n.CreatedAt), UpdatedAt: micros(n.UpdatedAt)}
}

func (r *numberRow) number() *core.PhoneNumber {
	return &core.PhoneNumber{ID: core.NumberID(r.ID), Number: r.Number, Name: r.Name, CallerIDName: r.CallerIDName,
		Kind: core.NumberKind(r.Kind), Direction: r.Direction, TrunkID: core.TrunkID(r.TrunkID.String),
		Route: core.Route{Type: core.RouteType(r.RouteType), ExtensionID: core.ExtensionID(r.RouteExtensionID.String), Number: r.RouteNumber,
			CallPlanID: r.CallPlanID.String},
		MOHClassID:    r.MOHClassID.String,
		RecordInbound: r.RecordInbound, RecordOutbound: r.RecordOutbound, BlockCallerID: r.BlockCallerID,
		BillingGroup: r.BillingGroup, Version: r.Version, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

// numberRefsValid names a route or trunk that does not exist.
func numberRefsValid(ctx context.Context, q sqlx.QueryerContext, n *core.PhoneNumber) error {
	var v core.ValidationError
	var one int
	if n.TrunkID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM trunks WHERE id = ?`, n.TrunkID) != nil {
		v.Add("trunk_id", "names no trunk", n.TrunkID)
	}
	if n.Route.ExtensionID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM extensions WHERE id = ?`, n.Route.ExtensionID) != nil {
		v.Add("route.extension_id", "names no extension", n.Route.ExtensionID)
	}
	if n.Route.CallPlanID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM call_plans WHERE id = ?`, n.Route.CallPlanID) != nil {
		v.Add("route.call_plan_id", "names no call plan", n.Route.CallPlanID)
	}
	if n.MOHClassID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM moh_classes WHERE id = ?`, n.MOHClassID) != nil {
		v.Add("moh_class_id", "names no music-on-hold class", n.MOHClassID)
	}
	return v.Err()
}

// CreateNumber stores a number.
func (db *DB) CreateNumber(ctx context.Context, n *core.PhoneNumber) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := numberRefsValid(ctx, tx, n); err != nil {
			return err
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO numbers (`+numberColumns+`) VALUES (:id, :number, :name, :caller_id_name,
			:kind, :direction, :trunk_id, :route_type, :route_extension_id, :route_number, :record_inbound, :record_outbound,
			:block_caller_id, :billing_group, :call_plan_id, :moh_class_id, :version, :created_at, :updated_at)`, toNumberRow(n))
		return uniqueViolation(err, "number", map[string]string{"number": n.Number})
	})
}

// GetNumber loads one number.
func (db *DB) GetNumber(ctx context.Context, id core.NumberID) (*core.PhoneNumber, error) {
	var r numberRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+numberColumns+` FROM numbers WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "number", id)
	}
	return r.number(), nil
}

// NumberByE164 loads the number with the given E.164 form.
func (db *DB) NumberByE164(ctx context.Context, e164 string) (*core.PhoneNumber, error) {
	var r numberRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+numberColumns+` FROM numbers WHERE number = ?`, e164); err != nil {
		return nil, notFound(err, "number", e164)
	}
	return r.number(), nil
}

// FirstNumberOfTrunk is the lowest bidirectional number delivered by a trunk.
func (db *DB) FirstNumberOfTrunk(ctx context.Context, id core.TrunkID) (*core.PhoneNumber, error) {
	var r numberRow
	err := db.r.GetContext(ctx, &r, `SELECT `+numberColumns+` FROM numbers WHERE trunk_id = ? AND direction = 'bidirectional'
		ORDER BY number LIMIT 1`, id)
	if err != nil {
		return nil, notFound(err, "number of trunk", id)
	}
	return r.number(), nil
}

// OnlyNumberOfTrunk is the trunk's number when it delivers exactly one
// (NotFound when it has none or several).
func (db *DB) OnlyNumberOfTrunk(ctx context.Context, id core.TrunkID) (*core.PhoneNumber, error) {
	var rows []numberRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+numberColumns+` FROM numbers WHERE trunk_id = ? ORDER BY number LIMIT 2`, id); err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, notFound(sql.ErrNoRows, "only number of trunk", id)
	}
	return rows[0].number(), nil
}

// ListNumbers returns one page of numbers ordered by number.
func (db *DB) ListNumbers(ctx context.Context, p core.PageRequest) (core.Page[*core.PhoneNumber], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*core.PhoneNumber]{}, err
		}
	}
	var rows []numberRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+numberColumns+` FROM numbers WHERE number > ? ORDER BY number LIMIT ?`, after, limit+1); err != nil {
		return core.Page[*core.PhoneNumber]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r numberRow) []any { return []any{r.Number} })
	page := core.Page[*core.PhoneNumber]{Items: make([]*core.PhoneNumber, 0, len(rows))}
	page.NextCursor = next
	for i := range rows {
		page.Items = append(page.Items, rows[i].number())
	}
	return page, nil
}

// UpdateNumber writes n if its stored version is still expectVersion.
func (db *DB) UpdateNumber(ctx context.Context, n *core.PhoneNumber, expectVersion int64) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM numbers WHERE id = ?`, n.ID); err != nil {
			return notFound(err, "number", n.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("number %s changed: %w", n.ID, core.ErrPrecondition)
		}
		if err := numberRefsValid(ctx, tx, n); err != nil {
			return err
		}
		row := toNumberRow(n)
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE numbers SET number = :number, name = :name, caller_id_name = :caller_id_name,
			kind = :kind, direction = :direction, trunk_id = :trunk_id, route_type = :route_type,
			route_extension_id = :route_extension_id, route_number = :route_number, record_inbound = :record_inbound,
			record_outbound = :record_outbound, block_caller_id = :block_caller_id, billing_group = :billing_group,
			call_plan_id = :call_plan_id, moh_class_id = :moh_class_id, version = :version, updated_at = :updated_at WHERE id = :id`, row)
		if err != nil {
			return uniqueViolation(err, "number", map[string]string{"number": n.Number})
		}
		n.Version = row.Version
		return nil
	})
}

// DeleteNumber removes a number.
func (db *DB) DeleteNumber(ctx context.Context, id core.NumberID) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM numbers WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("number %s: %w", id, core.ErrNotFound)
	}
	return nil
}
