package main

import (
	"context"
	"errors"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/core/schedule"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
)

// engineStore is what the call engine reads from the database.
type engineStore interface {
	core.ExtensionRepo
	ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error)
	schedule.Repo
	GetCallPlan(ctx context.Context, id plan.ID) (*plan.Plan, error)
}

// nightMode flips a schedule's override by phone (the feature code).
type nightMode struct{ db engineStore }

var _ b2bua.ScheduleToggler = nightMode{}

// ToggleSchedule flips the schedule with override code for ext and says
// whether it is now closed.
func (n nightMode) ToggleSchedule(ctx context.Context, code string, ext core.ExtensionID) (bool, error) {
	now := time.Now()
	sc, err := schedule.ToggleByCode(ctx, n.db, code, ext, now)
	if err != nil {
		return false, err
	}
	return !sc.StateAt(now).Status.Open(), nil
}

// engineDirectory lists the extensions callers may find by name.
type engineDirectory struct{ db engineStore }

var _ plan.Directory = engineDirectory{}

// maxDirectory bounds the extensions a dial-by-name search reads.
const maxDirectory = 10000

func (d engineDirectory) Entries(ctx context.Context) ([]plan.DirectoryEntry, error) {
	var out []plan.DirectoryEntry
	req := core.PageRequest{Limit: 500}
	for len(out) < maxDirectory {
		page, err := d.db.ListExtensions(ctx, core.ExtensionFilter{}, req)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Items {
			if e.HideFromDirectory || !e.Enabled {
				continue
			}
			out = append(out, plan.DirectoryEntry{ExtensionID: e.ID, Number: e.Number, Name: e.Name,
				NamePrompt: call.Prompt(e.NamePromptID)})
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	return out, nil
}

// engineExtensions finds extensions keyed directly in a menu.
type engineExtensions struct{ db engineStore }

var _ plan.Extensions = engineExtensions{}

func (e engineExtensions) ExtensionByNumber(ctx context.Context, number string) (core.ExtensionID, bool, error) {
	ext, err := e.db.ExtensionByNumber(ctx, number)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return ext.ID, true, nil
}

// newEngine is the call engine over the store and the prompt library.
func newEngine(db engineStore, prompts b2bua.PromptLibrary) b2bua.Engine {
	return b2bua.Engine{Plans: db, Prompts: prompts, Schedules: schedule.States{Repo: db}, Directory: engineDirectory{db},
		Extensions: engineExtensions{db}, Toggle: nightMode{db}}
}
