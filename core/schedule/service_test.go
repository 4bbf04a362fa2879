package schedule

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// memRepo keeps schedules in a map: enough for the code lookup and the
// override write ToggleByCode does.
type memRepo struct {
	Repo
	byID map[ID]*Schedule
}

func (m *memRepo) GetSchedule(_ context.Context, id ID) (*Schedule, error) {
	if s, ok := m.byID[id]; ok {
		cp := *s
		return &cp, nil
	}
	return nil, fmt.Errorf("schedule %s: %w", id, core.ErrNotFound)
}

func (m *memRepo) ScheduleByOverrideCode(_ context.Context, code string) (*Schedule, error) {
	for _, s := range m.byID {
		if s.OverrideCode == code {
			cp := *s
			return &cp, nil
		}
	}
	return nil, fmt.Errorf("code %s: %w", code, core.ErrNotFound)
}

func (m *memRepo) SetScheduleOverride(_ context.Context, id ID, o Override) (*Schedule, error) {
	s, ok := m.byID[id]
	if !ok {
		return nil, core.ErrNotFound
	}
	s.Override = o
	s.Version++
	cp := *s
	return &cp, nil
}

func TestToggleByCode(t *testing.T) {
	ctx := context.Background()
	boss := core.ExtensionID("ext_0000000000000001")
	s := &Schedule{ID: "sch_a", Name: "office", TimeZone: "Europe/Berlin", OverrideCode: "1",
		OverrideExtensionIDs: []core.ExtensionID{boss}, Hours: Week{time.Monday: {{"09:00", "17:00"}}}, Override: Override{Mode: ModeNone}, Version: 1}
	repo := &memRepo{byID: map[ID]*Schedule{s.ID: s}}
	states := States{Repo: repo}
	open := at("2026-03-02T10:00:00Z") // Monday 11:00 in Berlin
	steps := []struct {
		name   string
		code   string
		ext    core.ExtensionID
		err    error
		mode   Mode
		status string
	}{
		{"open by hours", "", "", nil, ModeNone, "open"},
		{"night mode on", "1", boss, nil, ModeClosed, "closed"},
		{"someone else", "1", "ext_0000000000000002", core.ErrForbidden, ModeClosed, "closed"},
		{"unknown code", "2", boss, core.ErrNotFound, ModeClosed, "closed"},
		{"night mode off", "1", boss, nil, ModeNone, "open"},
	}
	for _, st := range steps {
		if st.code != "" {
			_, err := ToggleByCode(ctx, repo, st.code, st.ext, open)
			if !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
				t.Fatalf("%s: error %v, want %v", st.name, err, st.err)
			}
		}
		if s.Override.Mode != st.mode {
			t.Fatalf("%s: override %+v, want %s", st.name, s.Override, st.mode)
		}
		if got, err := states.StateAt(ctx, "sch_a", open); err != nil || got != st.status {
			t.Fatalf("%s: state %q %v, want %s", st.name, got, err, st.status)
		}
	}
	if _, err := states.StateAt(ctx, "sch_nope", open); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown schedule: %v", err)
	}
}
