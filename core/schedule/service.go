package schedule

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// States reads the state of stored schedules; it serves call plans'
// schedule nodes (plan.Schedules).
type States struct {
	Repo Repo
}

// StateAt is the status ("open", "closed", "holiday") of schedule id at t.
func (s States) StateAt(ctx context.Context, id string, at time.Time) (string, error) {
	sch, err := s.Repo.GetSchedule(ctx, ID(id))
	if err != nil {
		return "", err
	}
	return sch.StateAt(at).Status.String(), nil
}

// ToggleByCode is night mode by phone: the extension that dialled the
// feature code with code flips the override of the schedule with that code
// (see Schedule.Toggle). core.ErrNotFound when no schedule has the code,
// core.ErrForbidden when the extension is not one allowed to toggle it.
func ToggleByCode(ctx context.Context, repo Repo, code string, ext core.ExtensionID, now time.Time) (*Schedule, error) {
	sch, err := repo.ScheduleByOverrideCode(ctx, code)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(sch.OverrideExtensionIDs, ext) {
		return nil, fmt.Errorf("extension %s may not toggle schedule %s: %w", ext, sch.ID, core.ErrForbidden)
	}
	return repo.SetScheduleOverride(ctx, sch.ID, sch.Toggle(now))
}
