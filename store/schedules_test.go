package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/schedule"
)

func newSchedule(name string) *schedule.Schedule {
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := &schedule.Schedule{ID: schedule.NewID(), Name: name, TimeZone: "Europe/Berlin", Version: 1, CreatedAt: now, UpdatedAt: now}
	s.Hours[time.Monday] = []schedule.Range{{Start: "09:00", End: "12:30"}, {Start: "13:30", End: "24:00"}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

func TestScheduleRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	ext := newExt("1001")
	if err := db.CreateExtension(ctx, ext); err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 12, 25, 18, 0, 0, 123000, time.UTC)
	a := newSchedule("office")
	a.Holidays = []schedule.Holiday{{Name: "Christmas", Start: "2026-12-24", End: "2026-12-26"}, {Name: "New Year", Date: "2026-01-01", Recurring: true}}
	a.Override = schedule.Override{Mode: schedule.ModeOpen, Until: &until}
	a.OverrideCode = "12"
	a.OverrideExtensionIDs = []core.ExtensionID{ext.ID}
	if err := db.CreateSchedule(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSchedule(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip changed the schedule:\n got %+v\nwant %+v", got, a)
	}
	// Schedules without a code do not collide on it.
	for i := range 2 {
		if err := db.CreateSchedule(ctx, newSchedule(fmt.Sprintf("plain %d", i))); err != nil {
			t.Fatal(err)
		}
	}

	sameCode := newSchedule("same code")
	sameCode.OverrideCode = "12"
	ghost := newSchedule("ghost")
	ghost.OverrideExtensionIDs = []core.ExtensionID{ext.ID, "ext_0000000000000000"}
	stale := *a
	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"duplicate code", func() error { return db.CreateSchedule(ctx, sameCode) }, core.ErrConflict, "override_code"},
		{"unknown extension", func() error { return db.CreateSchedule(ctx, ghost) }, core.ErrInvalid, "override_extension_ids[1]"},
		{"get unknown", func() error { _, err := db.GetSchedule(ctx, "sch_nope"); return err }, core.ErrNotFound, ""},
		{"code unknown", func() error { _, err := db.ScheduleByOverrideCode(ctx, "99"); return err }, core.ErrNotFound, ""},
		{"update stale version", func() error { return db.UpdateSchedule(ctx, &stale, 7) }, core.ErrPrecondition, ""},
		{"update unknown", func() error { return db.UpdateSchedule(ctx, newSchedule("x"), 1) }, core.ErrNotFound, ""},
		{"update to unknown extension", func() error {
			s := *a
			s.OverrideExtensionIDs = []core.ExtensionID{"ext_0000000000000000"}
			return db.UpdateSchedule(ctx, &s, a.Version)
		}, core.ErrInvalid, "override_extension_ids[0]"},
		{"set override unknown", func() error {
			_, err := db.SetScheduleOverride(ctx, "sch_nope", schedule.Override{Mode: schedule.ModeClosed})
			return err
		}, core.ErrNotFound, ""},
		{"delete unknown", func() error { return db.DeleteSchedule(ctx, "sch_nope") }, core.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			var ce *core.ConflictError
			var ve core.ValidationError
			switch {
			case tt.field == "":
			case errors.As(err, &ce):
				if ce.Field != tt.field {
					t.Fatalf("conflict on %s, want %s", ce.Field, tt.field)
				}
			case errors.As(err, &ve):
				if len(ve) != 1 || ve[0].Field != tt.field {
					t.Fatalf("invalid %v, want %s", ve, tt.field)
				}
			default:
				t.Fatalf("want an error naming %s, got %v", tt.field, err)
			}
		})
	}

	byCode, err := db.ScheduleByOverrideCode(ctx, "12")
	if err != nil || byCode.ID != a.ID {
		t.Fatalf("by code: %v %v", byCode, err)
	}

	// Update: a new code frees the old one; the version moves on.
	a.Name, a.OverrideCode = "head office", "7"
	a.Hours[time.Saturday] = []schedule.Range{{Start: "10:00", End: "14:00"}}
	if err := db.UpdateSchedule(ctx, a, 1); err != nil || a.Version != 2 {
		t.Fatalf("update: %v, version %d", err, a.Version)
	}
	if err := db.CreateSchedule(ctx, sameCode); err != nil {
		t.Fatalf("old code still taken: %v", err)
	}
	got, _ = db.GetSchedule(ctx, a.ID)
	if got.Name != "head office" || got.OverrideCode != "7" || len(got.Hours[time.Saturday]) != 1 || got.Version != 2 {
		t.Fatalf("update not stored: %+v", got)
	}

	// The override alone, as night mode by phone sets it.
	o, err := db.SetScheduleOverride(ctx, a.ID, schedule.Override{Mode: schedule.ModeClosed})
	if err != nil || o.Override.Mode != schedule.ModeClosed || o.Override.Until != nil || o.Version != 3 || o.Name != "head office" {
		t.Fatalf("set override: %+v %v", o, err)
	}
	o, err = db.SetScheduleOverride(ctx, a.ID, schedule.Override{Mode: schedule.ModeNone, Until: &until})
	if err != nil || o.Override.Mode != schedule.ModeNone || o.Override.Until != nil || o.Version != 4 {
		t.Fatalf("clear override: %+v %v", o, err)
	}
	// Clearing the code leaves it NULL, so another schedule without one fits.
	o.OverrideCode = ""
	if err := db.UpdateSchedule(ctx, o, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ScheduleByOverrideCode(ctx, ""); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("empty code found a schedule: %v", err)
	}
}

func TestListSchedulesPages(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for i := range 7 {
		if err := db.CreateSchedule(ctx, newSchedule(fmt.Sprintf("s%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[schedule.ID]bool{}
	cursor, pages := "", 0
	for {
		p, err := db.ListSchedules(ctx, core.PageRequest{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range p.Items {
			if seen[s.ID] {
				t.Fatalf("%s twice", s.ID)
			}
			seen[s.ID] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("%d schedules in %d pages", len(seen), pages)
	}
	if _, err := db.ListSchedules(ctx, core.PageRequest{Cursor: "nonsense"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// addCallPlan stores a plan whose graph mentions ids, creating the
// call_plans table when no migration has yet. Columns beyond id, name and
// graph get a zero value of their type.
func addCallPlan(t *testing.T, db *DB, id, name, graph string) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS call_plans (id TEXT PRIMARY KEY, name TEXT NOT NULL, graph TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var cols []struct {
		CID     int     `db:"cid"`
		Name    string  `db:"name"`
		Type    string  `db:"type"`
		NotNull bool    `db:"notnull"`
		Default *string `db:"dflt_value"`
		PK      int     `db:"pk"`
	}
	if err := db.w.SelectContext(ctx, &cols, `PRAGMA table_info(call_plans)`); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	args := []any{}
	for _, c := range cols {
		var v any
		switch c.Name {
		case "id":
			v = id
		case "name":
			v = name
		case "graph":
			v = graph
		default:
			if !c.NotNull || c.Default != nil {
				continue
			}
			if strings.Contains(strings.ToUpper(c.Type), "INT") {
				v = 0
			} else {
				v = ""
			}
		}
		names = append(names, c.Name)
		args = append(args, v)
	}
	q := `INSERT INTO call_plans (` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)-1) + `)`
	if _, err := db.w.ExecContext(ctx, q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteScheduleUsedByPlans(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	used, free, other := newSchedule("used"), newSchedule("free"), newSchedule("other")
	for _, s := range []*schedule.Schedule{used, free, other} {
		if err := db.CreateSchedule(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Whether or not the call plans table exists yet, a free schedule goes.
	if err := db.DeleteSchedule(ctx, free.ID); err != nil {
		t.Fatal(err)
	}
	addCallPlan(t, db, "cpl_a", "Main line", `{"nodes":[{"type":"schedule","schedule_id":"`+string(used.ID)+`"}]}`)
	addCallPlan(t, db, "cpl_b", "Support", `{"nodes":[{"type":"schedule","schedule_id":"`+string(used.ID)+`"}]}`)
	addCallPlan(t, db, "cpl_c", "Sales", `{"nodes":[]}`)
	err := db.DeleteSchedule(ctx, used.ID)
	var inUse *core.InUseError
	if !errors.Is(err, core.ErrConflict) || !errors.As(err, &inUse) || len(inUse.Refs) != 2 ||
		!strings.Contains(err.Error(), "Main line (cpl_a)") || !strings.Contains(err.Error(), "Support (cpl_b)") {
		t.Fatalf("delete of a used schedule: %v", err)
	}
	if _, err := db.GetSchedule(ctx, used.ID); err != nil {
		t.Fatalf("refused delete removed the schedule: %v", err)
	}
	if err := db.DeleteSchedule(ctx, other.ID); err != nil {
		t.Fatalf("unused schedule: %v", err)
	}
	if _, err := db.GetSchedule(ctx, other.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted schedule still there: %v", err)
	}
}
