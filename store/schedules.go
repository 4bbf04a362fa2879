package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/schedule"
)

var _ schedule.Repo = (*DB)(nil)

type scheduleRow struct {
	ID                 string         `db:"id"`
	Name               string         `db:"name"`
	TimeZone           string         `db:"time_zone"`
	Spec               string         `db:"spec"`
	OverrideMode       string         `db:"override_mode"`
	OverrideUntil      sql.NullInt64  `db:"override_until"`
	OverrideCode       sql.NullString `db:"override_code"`
	OverrideExtensions string         `db:"override_extensions"`
	Version            int64          `db:"version"`
	CreatedAt          int64          `db:"created_at"`
	UpdatedAt          int64          `db:"updated_at"`
}

const scheduleColumns = `id, name, time_zone, spec, override_mode, override_until, override_code, override_extensions,
	version, created_at, updated_at`

// scheduleSpec is the JSON kept in the spec column.
type scheduleSpec struct {
	Hours    map[string][]scheduleRange `json:"hours"`
	Holidays []scheduleHoliday          `json:"holidays"`
}

type scheduleRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type scheduleHoliday struct {
	Name      string `json:"name"`
	Date      string `json:"date,omitempty"`
	Start     string `json:"start,omitempty"`
	End       string `json:"end,omitempty"`
	Recurring bool   `json:"recurring,omitempty"`
}

func scheduleToRow(s *schedule.Schedule) (scheduleRow, error) {
	spec := scheduleSpec{Hours: map[string][]scheduleRange{}, Holidays: []scheduleHoliday{}}
	for d, ranges := range s.Hours {
		if len(ranges) == 0 {
			continue
		}
		out := make([]scheduleRange, len(ranges))
		for i, r := range ranges {
			out[i] = scheduleRange(r)
		}
		spec.Hours[schedule.DayNames[d]] = out
	}
	for _, h := range s.Holidays {
		spec.Holidays = append(spec.Holidays, scheduleHoliday(h))
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return scheduleRow{}, err
	}
	ids := s.OverrideExtensionIDs
	if ids == nil {
		ids = []core.ExtensionID{}
	}
	ext, err := json.Marshal(ids)
	if err != nil {
		return scheduleRow{}, err
	}
	r := scheduleRow{ID: string(s.ID), Name: s.Name, TimeZone: s.TimeZone, Spec: string(b), OverrideMode: string(s.Override.Mode),
		OverrideExtensions: string(ext), Version: s.Version, CreatedAt: micros(s.CreatedAt), UpdatedAt: micros(s.UpdatedAt)}
	if r.OverrideMode == "" {
		r.OverrideMode = string(schedule.ModeNone)
	}
	if s.Override.Until != nil {
		r.OverrideUntil = sql.NullInt64{Int64: micros(*s.Override.Until), Valid: true}
	}
	if s.OverrideCode != "" {
		r.OverrideCode = sql.NullString{String: s.OverrideCode, Valid: true}
	}
	return r, nil
}

func rowToSchedule(r *scheduleRow) (*schedule.Schedule, error) {
	var spec scheduleSpec
	if err := json.Unmarshal([]byte(r.Spec), &spec); err != nil {
		return nil, fmt.Errorf("schedule %s spec: %w", r.ID, err)
	}
	s := &schedule.Schedule{ID: schedule.ID(r.ID), Name: r.Name, TimeZone: r.TimeZone,
		Override: schedule.Override{Mode: schedule.Mode(r.OverrideMode)}, OverrideCode: r.OverrideCode.String,
		Version: r.Version, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	for d, name := range schedule.DayNames {
		for _, rg := range spec.Hours[name] {
			s.Hours[d] = append(s.Hours[d], schedule.Range(rg))
		}
	}
	for _, h := range spec.Holidays {
		s.Holidays = append(s.Holidays, schedule.Holiday(h))
	}
	if r.OverrideUntil.Valid {
		u := fromMicros(r.OverrideUntil.Int64)
		s.Override.Until = &u
	}
	if err := json.Unmarshal([]byte(r.OverrideExtensions), &s.OverrideExtensionIDs); err != nil {
		return nil, fmt.Errorf("schedule %s override extensions: %w", r.ID, err)
	}
	return s, nil
}

// checkOverrideExtensions names (override_extension_ids[i]) every extension
// the schedule lists that does not exist.
func checkOverrideExtensions(ctx context.Context, tx *sqlx.Tx, s *schedule.Schedule) error {
	var v core.ValidationError
	for i, id := range s.OverrideExtensionIDs {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM extensions WHERE id = ?`, id); err != nil {
			return err
		}
		if n == 0 {
			v.Add(fmt.Sprintf("override_extension_ids[%d]", i), "no extension has this id", string(id))
		}
	}
	return v.Err()
}

func scheduleConflict(err error, s *schedule.Schedule) error {
	return uniqueViolation(err, "schedule", map[string]string{"override_code": s.OverrideCode, "id": string(s.ID)})
}

// CreateSchedule stores a schedule whose override extensions exist.
func (db *DB) CreateSchedule(ctx context.Context, s *schedule.Schedule) error {
	row, err := scheduleToRow(s)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := checkOverrideExtensions(ctx, tx, s); err != nil {
			return err
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES (:id, :name, :time_zone, :spec,
			:override_mode, :override_until, :override_code, :override_extensions, :version, :created_at, :updated_at)`, row)
		return scheduleConflict(err, s)
	})
}

// GetSchedule loads one schedule.
func (db *DB) GetSchedule(ctx context.Context, id schedule.ID) (*schedule.Schedule, error) {
	var r scheduleRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+scheduleColumns+` FROM schedules WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "schedule", id)
	}
	return rowToSchedule(&r)
}

// ScheduleByOverrideCode finds the schedule whose night-mode code is code.
func (db *DB) ScheduleByOverrideCode(ctx context.Context, code string) (*schedule.Schedule, error) {
	var r scheduleRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+scheduleColumns+` FROM schedules WHERE override_code = ?`, code); err != nil {
		return nil, notFound(err, "schedule with override code", code)
	}
	return rowToSchedule(&r)
}

// ListSchedules returns one page of schedules ordered by id.
func (db *DB) ListSchedules(ctx context.Context, p core.PageRequest) (core.Page[*schedule.Schedule], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*schedule.Schedule]{}, err
		}
	}
	var rows []scheduleRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+scheduleColumns+` FROM schedules WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1); err != nil {
		return core.Page[*schedule.Schedule]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r scheduleRow) []any { return []any{r.ID} })
	page := core.Page[*schedule.Schedule]{Items: make([]*schedule.Schedule, 0, len(rows)), NextCursor: next}
	for i := range rows {
		s, err := rowToSchedule(&rows[i])
		if err != nil {
			return core.Page[*schedule.Schedule]{}, err
		}
		page.Items = append(page.Items, s)
	}
	return page, nil
}

// UpdateSchedule writes s if its stored version is still expectVersion.
func (db *DB) UpdateSchedule(ctx context.Context, s *schedule.Schedule, expectVersion int64) error {
	row, err := scheduleToRow(s)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM schedules WHERE id = ?`, s.ID); err != nil {
			return notFound(err, "schedule", s.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("schedule %s changed: %w", s.ID, core.ErrPrecondition)
		}
		if err := checkOverrideExtensions(ctx, tx, s); err != nil {
			return err
		}
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE schedules SET name = :name, time_zone = :time_zone, spec = :spec,
			override_mode = :override_mode, override_until = :override_until, override_code = :override_code,
			override_extensions = :override_extensions, version = :version, updated_at = :updated_at WHERE id = :id`, row)
		if err != nil {
			return scheduleConflict(err, s)
		}
		s.Version = row.Version
		return nil
	})
}

// SetScheduleOverride replaces only the override (as night mode by phone
// does) and bumps the version, whatever it was.
func (db *DB) SetScheduleOverride(ctx context.Context, id schedule.ID, o schedule.Override) (*schedule.Schedule, error) {
	if o.Mode == "" {
		o.Mode = schedule.ModeNone
	}
	if o.Mode == schedule.ModeNone {
		o.Until = nil
	}
	var until sql.NullInt64
	if o.Until != nil {
		until = sql.NullInt64{Int64: micros(*o.Until), Valid: true}
	}
	var out *schedule.Schedule
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET override_mode = ?, override_until = ?, version = version + 1,
			updated_at = ? WHERE id = ?`, string(o.Mode), until, micros(time.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %s: %w", id, core.ErrNotFound)
		}
		var r scheduleRow
		if err := tx.GetContext(ctx, &r, `SELECT `+scheduleColumns+` FROM schedules WHERE id = ?`, id); err != nil {
			return err
		}
		out, err = rowToSchedule(&r)
		return err
	})
	return out, err
}

// DeleteSchedule removes a schedule no call plan uses; otherwise it names
// the plans. The call_plans table may not exist yet in an older database.
func (db *DB) DeleteSchedule(ctx context.Context, id schedule.ID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var plans int
		if err := tx.GetContext(ctx, &plans, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'call_plans'`); err != nil {
			return err
		}
		if plans > 0 {
			var users []struct {
				ID   string `db:"id"`
				Name string `db:"name"`
			}
			// Ids are quoted as a plan's JSON graph writes them.
			if err := tx.SelectContext(ctx, &users, `SELECT id, name FROM call_plans WHERE instr(graph, ?) > 0 ORDER BY id LIMIT 20`,
				`"`+string(id)+`"`); err != nil {
				return err
			}
			if len(users) > 0 {
				refs := make([]string, len(users))
				for i, u := range users {
					refs[i] = fmt.Sprintf("%s (%s)", u.Name, u.ID)
				}
				return &core.InUseError{Resource: "schedule " + string(id), UsedBy: "call plans", Refs: refs}
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}
