package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

var _ call.RecordRepo = (*DB)(nil)

type callRecordRow struct {
	ID            string        `db:"id"`
	SIPCallID     string        `db:"sip_call_id"`
	Direction     string        `db:"direction"`
	FromNumber    string        `db:"from_number"`
	FromName      string        `db:"from_name"`
	ToNumber      string        `db:"to_number"`
	StartedAt     int64         `db:"started_at"`
	AnsweredAt    sql.NullInt64 `db:"answered_at"`
	EndedAt       sql.NullInt64 `db:"ended_at"`
	Disposition   string        `db:"disposition"`
	HangupCause   string        `db:"hangup_cause"`
	HangupBy      string        `db:"hangup_by"`
	CallerQuality string        `db:"caller_quality"`
	CalleeQuality string        `db:"callee_quality"`
	TrunkID       string        `db:"trunk_id"`
	OutTrunkID    string        `db:"outbound_trunk_id"`
	NumberID      string        `db:"number_id"`
	Attempts      int           `db:"attempts"`
	Dialled       string        `db:"dialled"`
	CallerID      string        `db:"caller_id_presented"`
	PlanPath      string        `db:"plan_path"`
}

const callRecordColumns = `id, sip_call_id, direction, from_number, from_name, to_number, started_at,
	answered_at, ended_at, disposition, hangup_cause, hangup_by, caller_quality, callee_quality, trunk_id, number_id, attempts, dialled, caller_id_presented,
	plan_path, outbound_trunk_id`

// scan reads a row of callRecordColumns, in their order. Lists read records
// this way rather than through sqlx's reflection over the struct tags, which
// was the larger part of a page's cost.
func (row *callRecordRow) scan(s interface{ Scan(dest ...any) error }) error {
	return s.Scan(&row.ID, &row.SIPCallID, &row.Direction, &row.FromNumber, &row.FromName, &row.ToNumber, &row.StartedAt,
		&row.AnsweredAt, &row.EndedAt, &row.Disposition, &row.HangupCause, &row.HangupBy, &row.CallerQuality, &row.CalleeQuality,
		&row.TrunkID, &row.NumberID, &row.Attempts, &row.Dialled, &row.CallerID, &row.PlanPath, &row.OutTrunkID)
}

// queryCallRecords runs q, which selects callRecordColumns, and calls fn
// with each row in turn (the same row value, overwritten).
func (db *DB) queryCallRecords(ctx context.Context, q string, args []any, fn func(*callRecordRow) error) error {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var row callRecordRow
	for rows.Next() {
		if err := row.scan(rows); err != nil {
			return err
		}
		if err := fn(&row); err != nil {
			return err
		}
	}
	return rows.Err()
}

func optMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func toCallRecordRow(r *call.Record) callRecordRow {
	cq, _ := json.Marshal(r.Caller)
	dq, _ := json.Marshal(r.Callee)
	return callRecordRow{
		ID: string(r.ID), SIPCallID: r.SIPCallID, Direction: string(r.Direction),
		FromNumber: r.FromNumber, FromName: r.FromName, ToNumber: r.ToNumber,
		StartedAt: micros(r.StartedAt), AnsweredAt: optMicros(r.AnsweredAt), EndedAt: optMicros(r.EndedAt),
		Disposition: string(r.Disposition), HangupCause: r.HangupCause, HangupBy: string(r.HangupBy),
		CallerQuality: string(cq), CalleeQuality: string(dq), TrunkID: r.TrunkID, NumberID: r.NumberID, Attempts: r.Attempts,
		Dialled: r.Dialled, CallerID: r.CallerIDPresented, PlanPath: planPath(r.PlanPath), OutTrunkID: r.OutboundTrunkID,
	}
}

// planPath is the JSON of a call's way through call plans ("" for none).
func planPath(steps []call.PlanStep) string {
	if len(steps) == 0 {
		return ""
	}
	b, _ := json.Marshal(steps)
	return string(b)
}

func (row *callRecordRow) record() *call.Record {
	r := &call.Record{
		ID: call.ID(row.ID), SIPCallID: row.SIPCallID, Direction: call.Direction(row.Direction),
		FromNumber: row.FromNumber, FromName: row.FromName, ToNumber: row.ToNumber,
		StartedAt: fromMicros(row.StartedAt), AnsweredAt: optTime(row.AnsweredAt), EndedAt: optTime(row.EndedAt),
		Disposition: call.Disposition(row.Disposition), HangupCause: row.HangupCause, HangupBy: call.Party(row.HangupBy),
		TrunkID: row.TrunkID, OutboundTrunkID: row.OutTrunkID, NumberID: row.NumberID, Attempts: row.Attempts,
		Dialled: row.Dialled, CallerIDPresented: row.CallerID,
	}
	decodeQuality(row.CallerQuality, &r.Caller)
	decodeQuality(row.CalleeQuality, &r.Callee)
	if row.PlanPath != "" {
		_ = json.Unmarshal([]byte(row.PlanPath), &r.PlanPath)
	}
	return r
}

// createArgs are the values of stmtRecordCreate, in callRecordColumns order.
func (row *callRecordRow) createArgs() []any {
	return []any{row.ID, row.SIPCallID, row.Direction, row.FromNumber, row.FromName, row.ToNumber, row.StartedAt,
		row.AnsweredAt, row.EndedAt, row.Disposition, row.HangupCause, row.HangupBy, row.CallerQuality, row.CalleeQuality,
		row.TrunkID, row.NumberID, row.Attempts, row.Dialled, row.CallerID, row.PlanPath, row.OutTrunkID}
}

// finishArgs are the values of stmtRecordFinish.
func (row *callRecordRow) finishArgs() []any {
	return []any{row.AnsweredAt, row.EndedAt, row.Disposition, row.HangupCause, row.HangupBy, row.CallerQuality,
		row.CalleeQuality, row.FromName, row.TrunkID, row.OutTrunkID, row.Attempts, row.CallerID, row.PlanPath, row.ID}
}

// CreateCallRecord stores the record of a call that has started and returns
// once it is committed (through the write queue, in order with queued writes).
func (db *DB) CreateCallRecord(ctx context.Context, r *call.Record) error {
	return db.write(ctx, &writeReq{kind: writeRecordCreate, rec: toCallRecordRow(r)})
}

// FinishCallRecord writes the final state of a call and returns once it is
// committed.
func (db *DB) FinishCallRecord(ctx context.Context, r *call.Record) error {
	return db.write(ctx, &writeReq{kind: writeRecordFinish, rec: toCallRecordRow(r)})
}

// GetCallRecord loads one record. A record missing or still open while
// writes are queued is read again once they are committed, so a call's
// record reads as written right after the call.
func (db *DB) GetCallRecord(ctx context.Context, id call.ID) (*call.Record, error) {
	var row callRecordRow
	const q = `SELECT ` + callRecordColumns + ` FROM call_records WHERE id = ?`
	err := row.scan(db.r.QueryRowContext(ctx, q, id))
	if (err != nil && errors.Is(err, sql.ErrNoRows) || err == nil && !row.EndedAt.Valid) && db.WriteBacklog() > 0 {
		db.awaitWrites(ctx)
		err = row.scan(db.r.QueryRowContext(ctx, q, id))
	}
	if err != nil {
		return nil, notFound(err, "call record", id)
	}
	return row.record(), nil
}

// recordKey is the sort key of a call record in lists: newest first.
type recordKey struct {
	at int64
	id string
}

const callRecordOrder = ` ORDER BY started_at DESC, id DESC`

// callRecordConds are the conditions of f other than its number, and the
// keyset position after when set, each as " AND ...".
func callRecordConds(f call.Filter, after *recordKey) (string, []any) {
	var q string
	var args []any
	if !f.From.IsZero() {
		q += ` AND started_at >= ?`
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		q += ` AND started_at < ?`
		args = append(args, micros(f.To))
	}
	if f.Disposition != "" {
		q += ` AND disposition = ?`
		args = append(args, f.Disposition)
	}
	if f.Direction != "" {
		q += ` AND direction = ?`
		args = append(args, f.Direction)
	}
	if after != nil {
		// A row value: one range of the (started_at, id) indexes.
		q += ` AND (started_at, id) < (?, ?)`
		args = append(args, after.at, after.id)
	}
	return q, args
}

// callRecordQuery is the SELECT of the records matching f after the keyset
// position after (when set), newest first, at most limit of them (all when
// limit is 0).
//
// A page of records from or to a number is read as two ordered index
// ranges, one per column, each cut at the page size, and merged: a plain
// "from_number = ? OR to_number = ?" makes SQLite fetch every record of the
// number and sort them all for each page.
func callRecordQuery(f call.Filter, after *recordKey, limit int) (string, []any) {
	return callRecordSelect(callRecordColumns, f, after, limit)
}

// callRecordSelect is callRecordQuery selecting cols.
func callRecordSelect(cols string, f call.Filter, after *recordKey, limit int) (string, []any) {
	conds, args := callRecordConds(f, after)
	lim := ""
	if limit > 0 {
		lim = ` LIMIT ?`
	}
	var q string
	var all []any
	switch {
	case f.Number == "":
		q = `SELECT ` + cols + ` FROM call_records WHERE 1=1` + conds + callRecordOrder + lim
		all = args
	case limit == 0:
		q = `SELECT ` + cols + ` FROM call_records WHERE (from_number = ? OR to_number = ?)` + conds + callRecordOrder
		all = append([]any{f.Number, f.Number}, args...)
	default:
		side := func(col, alias string) string {
			return `SELECT id FROM (SELECT id FROM call_records WHERE ` + col + ` = ?` + conds + callRecordOrder + lim + `) AS ` + alias
		}
		q = `SELECT ` + cols + ` FROM call_records WHERE id IN (` + side("from_number", "f") +
			` UNION ALL ` + side("to_number", "t") + `)` + callRecordOrder + lim
		for range 2 {
			all = append(all, f.Number)
			all = append(all, args...)
			all = append(all, limit)
		}
	}
	if limit > 0 {
		all = append(all, limit)
	}
	return q, all
}

// ListCallRecords returns one page of records, newest first, including
// those queued before the call. It finds the keys of the page's rows in the
// index of the newest records (recentRecords), or reads them from SQL when
// the page reaches below it, takes the records the cache holds, and reads
// the others whole (see recordCache). The records may be shared: callers
// must not change them.
func (db *DB) ListCallRecords(ctx context.Context, f call.Filter, p core.PageRequest) (core.Page[*call.Record], error) {
	limit := p.Size()
	var after *recordKey
	if p.Cursor != "" {
		after = &recordKey{}
		if err := core.DecodeCursor(p.Cursor, &after.at, &after.id); err != nil {
			return core.Page[*call.Record]{}, err
		}
	}
	db.awaitWrites(ctx)
	// One row more than the page tells whether there is a next one; its
	// key is kept for the cursor.
	keys, ok := db.recent.page(f, after, limit+1)
	if !ok {
		var err error
		if keys, err = db.callRecordKeys(ctx, f, after, limit+1); err != nil {
			return core.Page[*call.Record]{}, fmt.Errorf("list call records: %w", err)
		}
	}
	keys, next := core.TrimPage(keys, limit, func(k recordKey) []any { return []any{k.at, k.id} })
	items := make([]*call.Record, len(keys))
	gen := db.records.lookup(keys, items)
	if err := db.readCallRecords(ctx, keys, items, gen); err != nil {
		return core.Page[*call.Record]{}, fmt.Errorf("list call records: %w", err)
	}
	// A row read in the first pass is there in the second, as records are
	// never deleted; should one be missing, the page goes without it.
	n := 0
	for _, r := range items {
		if r != nil {
			items[n] = r
			n++
		}
	}
	return core.Page[*call.Record]{Items: items[:n], NextCursor: next}, nil
}

// callRecordKeys reads the keys of the records matching f after the keyset
// position after, at most limit of them.
func (db *DB) callRecordKeys(ctx context.Context, f call.Filter, after *recordKey, limit int) ([]recordKey, error) {
	q, args := callRecordSelect(`id, started_at`, f, after, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := make([]recordKey, 0, limit)
	for rows.Next() {
		var k recordKey
		if err := rows.Scan(&k.id, &k.at); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// readCallRecords reads whole the records of keys that items does not hold
// yet, into their places, and keeps them in the cache unless a finish was
// committed since gen.
func (db *DB) readCallRecords(ctx context.Context, keys []recordKey, items []*call.Record, gen uint64) error {
	var ids []string
	for i, k := range keys {
		if items[i] == nil {
			ids = append(ids, k.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	at := make(map[string]int, len(ids))
	for i, k := range keys {
		if items[i] == nil {
			at[k.id] = i
		}
	}
	// The IDs go as one JSON array, so that whatever their number this is
	// one statement, prepared once per connection.
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	const q = `SELECT ` + callRecordColumns + ` FROM call_records WHERE id IN (SELECT value FROM json_each(?))`
	read := make([]*call.Record, 0, len(ids))
	err = db.queryCallRecords(ctx, q, []any{string(list)}, func(row *callRecordRow) error {
		i, ok := at[row.ID]
		if !ok {
			return nil
		}
		r := row.record()
		items[i] = r
		read = append(read, r)
		return nil
	})
	if err != nil {
		return err
	}
	db.records.keep(gen, read)
	return nil
}

// EachCallRecord streams matching records, newest first, one row at a time.
func (db *DB) EachCallRecord(ctx context.Context, f call.Filter, fn func(*call.Record) error) error {
	db.awaitWrites(ctx)
	q, args := callRecordQuery(f, nil, 0)
	var stopped bool
	err := db.queryCallRecords(ctx, q, args, func(row *callRecordRow) error {
		err := fn(row.record())
		stopped = err != nil
		return err
	})
	if err != nil && !stopped {
		return fmt.Errorf("list call records: %w", err)
	}
	return err
}

// CloseDanglingCallRecords ends every record still open, as failed with
// cause, and appends each call's call.ended event in the same transaction, so
// webhook and stream consumers never see a call that lasts for ever. What the
// record does not hold (the extensions of the call, and its answer time, as
// records are written at start and end only) comes from the call's last event.
// It runs at start, before any call is taken: no write of a record is queued
// meanwhile, so the lists' caches follow its writes in their order.
func (db *DB) CloseDanglingCallRecords(ctx context.Context, at time.Time, cause string) (int, error) {
	var n int
	var evs []core.Event
	var closed []recordKey
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var rows []callRecordRow
		if err := tx.SelectContext(ctx, &rows, `SELECT `+callRecordColumns+` FROM call_records WHERE ended_at IS NULL
			ORDER BY started_at, id`); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		facts, err := lastCallEvents(ctx, tx, fromMicros(rows[0].StartedAt))
		if err != nil {
			return err
		}
		end := at.UTC().Truncate(time.Microsecond)
		for i := range rows {
			r := rows[i].record()
			f := facts["call:"+string(r.ID)]
			if r.AnsweredAt == nil && f.AnsweredAt != nil {
				a := f.AnsweredAt.UTC()
				r.AnsweredAt = &a
			}
			r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &end, call.Failed, cause, call.BySystem
			res, err := tx.ExecContext(ctx, `UPDATE call_records SET answered_at = ?, ended_at = ?, disposition = ?,
				hangup_cause = ?, hangup_by = ? WHERE id = ? AND ended_at IS NULL`,
				optMicros(r.AnsweredAt), micros(end), r.Disposition, r.HangupCause, r.HangupBy, r.ID)
			if err != nil {
				return fmt.Errorf("call record %s: %w", r.ID, err)
			}
			if k, _ := res.RowsAffected(); k == 0 {
				continue
			}
			n++
			closed = append(closed, recordKey{at: rows[i].StartedAt, id: rows[i].ID})
			evs = append(evs, call.EndEvents(r, core.ExtensionID(f.From), core.ExtensionID(f.To), end)...)
		}
		return db.insertEvents(ctx, tx, evs)
	})
	if err != nil {
		return 0, fmt.Errorf("close dangling call records: %w", err)
	}
	if closed != nil {
		db.recent.finished(closed, string(call.Failed))
		ids := make([]string, len(closed))
		for i, k := range closed {
			ids[i] = k.id
		}
		db.records.finished(ids)
	}
	if len(evs) > 0 {
		db.notifyEvents()
	}
	return n, nil
}

// callFacts is what a call's last event says that its record may not.
type callFacts struct {
	From       string     `json:"from_extension_id"`
	To         string     `json:"to_extension_id"`
	AnsweredAt *time.Time `json:"answered_at"`
}

// lastCallEvents reads the newest event of each call since since, by order
// key ("call:<id>").
func lastCallEvents(ctx context.Context, tx *sqlx.Tx, since time.Time) (map[string]callFacts, error) {
	rows, err := tx.QueryxContext(ctx, `SELECT order_key, data FROM events WHERE occurred_at >= ?
		AND order_key LIKE 'call:%' ORDER BY seq`, micros(since.Add(-time.Second)))
	if err != nil {
		return nil, fmt.Errorf("read call events: %w", err)
	}
	defer rows.Close()
	out := map[string]callFacts{}
	for rows.Next() {
		var key, data string
		if err := rows.Scan(&key, &data); err != nil {
			return nil, err
		}
		var f callFacts
		if json.Unmarshal([]byte(data), &f) == nil {
			out[key] = f
		}
	}
	return out, rows.Err()
}
