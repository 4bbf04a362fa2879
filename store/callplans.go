package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/plan"
	"github.com/dialtone-pbx/dialtone/core/routing"
)

var _ plan.Repo = (*DB)(nil)

// maxPlanUsers is how many users of a plan, prompt or schedule are named.
const maxPlanUsers = 20

type callPlanRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Language  string `db:"language"`
	Graph     string `db:"graph"`
	Version   int64  `db:"version"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
}

const callPlanColumns = `id, name, language, graph, version, created_at, updated_at`

func callPlanToRow(p *plan.Plan) (callPlanRow, error) {
	g, err := json.Marshal(p.Graph)
	if err != nil {
		return callPlanRow{}, fmt.Errorf("call plan %s: %w", p.ID, err)
	}
	return callPlanRow{ID: string(p.ID), Name: p.Name, Language: p.Language, Graph: string(g), Version: p.Version,
		CreatedAt: micros(p.CreatedAt), UpdatedAt: micros(p.UpdatedAt)}, nil
}

func (r *callPlanRow) plan() (*plan.Plan, error) {
	p := &plan.Plan{ID: plan.ID(r.ID), Name: r.Name, Language: r.Language, Version: r.Version,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Graph), &p.Graph); err != nil {
		return nil, fmt.Errorf("call plan %s: stored graph: %w", r.ID, err)
	}
	return p, nil
}

// CreateCallPlan stores a new plan; a taken name is a core.ConflictError.
func (db *DB) CreateCallPlan(ctx context.Context, p *plan.Plan) error {
	row, err := callPlanToRow(p)
	if err != nil {
		return err
	}
	_, err = db.w.NamedExecContext(ctx, `INSERT INTO call_plans (`+callPlanColumns+`)
		VALUES (:id, :name, :language, :graph, :version, :created_at, :updated_at)`, row)
	return uniqueViolation(err, "call plan", map[string]string{"name": p.Name, "id": string(p.ID)})
}

// GetCallPlan loads one plan.
func (db *DB) GetCallPlan(ctx context.Context, id plan.ID) (*plan.Plan, error) {
	var r callPlanRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+callPlanColumns+` FROM call_plans WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "call plan", id)
	}
	return r.plan()
}

// CallPlanExists reports whether a plan with this id is stored.
func (db *DB) CallPlanExists(ctx context.Context, id plan.ID) (bool, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM call_plans WHERE id = ?`, id)
	return n > 0, err
}

// ListCallPlans returns one page of plans ordered by name.
func (db *DB) ListCallPlans(ctx context.Context, p core.PageRequest) (core.Page[*plan.Plan], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*plan.Plan]{}, err
		}
	}
	var rows []callPlanRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+callPlanColumns+` FROM call_plans WHERE name > ? ORDER BY name LIMIT ?`,
		after, limit+1); err != nil {
		return core.Page[*plan.Plan]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r callPlanRow) []any { return []any{r.Name} })
	page := core.Page[*plan.Plan]{Items: make([]*plan.Plan, 0, len(rows)), NextCursor: next}
	for i := range rows {
		pl, err := rows[i].plan()
		if err != nil {
			return core.Page[*plan.Plan]{}, err
		}
		page.Items = append(page.Items, pl)
	}
	return page, nil
}

// UpdateCallPlan writes p if its stored version is still expectVersion and
// sets p.Version to the new one.
func (db *DB) UpdateCallPlan(ctx context.Context, p *plan.Plan, expectVersion int64) error {
	row, err := callPlanToRow(p)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM call_plans WHERE id = ?`, p.ID); err != nil {
			return notFound(err, "call plan", p.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("call plan %s changed: %w", p.ID, core.ErrPrecondition)
		}
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE call_plans SET name = :name, language = :language, graph = :graph,
			version = :version, updated_at = :updated_at WHERE id = :id`, row)
		if err != nil {
			return uniqueViolation(err, "call plan", map[string]string{"name": p.Name})
		}
		p.Version = row.Version
		return nil
	})
}

// DeleteCallPlan removes a plan nothing routes to; otherwise it is a
// core.InUseError naming the users.
func (db *DB) DeleteCallPlan(ctx context.Context, id plan.ID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		users, err := callPlanUsers(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return inUse("call plan "+string(id), users)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM call_plans WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("call plan %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}

// CallPlanUsers names what routes calls to the plan: numbers, extensions
// (as their no-answer plan) and other plans transferring to it.
func (db *DB) CallPlanUsers(ctx context.Context, id plan.ID) ([]plan.User, error) {
	return callPlanUsers(ctx, db.r, id)
}

func callPlanUsers(ctx context.Context, q sqlx.QueryerContext, id plan.ID) ([]plan.User, error) {
	var users []plan.User
	// Columns a later migration adds: asked for only once they exist.
	refs := []struct {
		kind, table, column, label string
	}{
		{"number", "numbers", "call_plan_id", "number"},
		{"extension", "extensions", "no_answer_call_plan_id", "number"},
	}
	for _, r := range refs {
		ok, err := columnExists(ctx, q, r.table, r.column)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var rows []struct {
			ID    string `db:"id"`
			Label string `db:"label"`
		}
		err = sqlx.SelectContext(ctx, q, &rows, `SELECT id, `+r.label+` AS label FROM `+r.table+` WHERE `+r.column+` = ?
			ORDER BY `+r.label+` LIMIT ?`, id, maxPlanUsers)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			users = append(users, plan.User{Kind: r.kind, ID: row.ID, Name: row.Label})
		}
	}
	plans, err := plansWhere(ctx, q, string(id), func(p *plan.Plan) bool {
		if p.ID == id {
			return false
		}
		for _, n := range p.Nodes {
			if n != nil && n.Target != nil && n.Target.Kind == routing.KindCallPlan && plan.ID(n.Target.CallPlanID) == id {
				return true
			}
		}
		return false
	})
	return append(users, plans...), err
}

// PlansUsingPrompt names the plans that play a prompt (a stored prompt's
// id or a system prompt's name).
func (db *DB) PlansUsingPrompt(ctx context.Context, promptID string) ([]plan.User, error) {
	return plansWhere(ctx, db.r, promptID, func(p *plan.Plan) bool {
		for _, n := range p.Nodes {
			if n == nil {
				continue
			}
			for _, list := range [][]call.Prompt{n.Prompts, n.InvalidPrompts, n.TimeoutPrompts} {
				if slices.Contains(list, call.Prompt(promptID)) {
					return true
				}
			}
		}
		return false
	})
}

// PlansUsingSchedule names the plans whose schedule nodes read a schedule.
func (db *DB) PlansUsingSchedule(ctx context.Context, scheduleID string) ([]plan.User, error) {
	return plansWhere(ctx, db.r, scheduleID, func(p *plan.Plan) bool {
		for _, n := range p.Nodes {
			if n != nil && n.Kind == plan.KindSchedule && n.ScheduleID == scheduleID {
				return true
			}
		}
		return false
	})
}

// plansWhere names the plans whose graph holds s and passes match: instr
// narrows the rows, decoding the graph rules out s found in, say, a caller
// name.
func plansWhere(ctx context.Context, q sqlx.QueryerContext, s string, match func(*plan.Plan) bool) ([]plan.User, error) {
	if s == "" {
		return nil, nil
	}
	var rows []callPlanRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+callPlanColumns+` FROM call_plans WHERE instr(graph, ?) > 0
		ORDER BY name`, s); err != nil {
		return nil, err
	}
	var users []plan.User
	for i := range rows {
		p, err := rows[i].plan()
		if err != nil {
			return nil, err
		}
		if match(p) {
			users = append(users, plan.User{Kind: "call_plan", ID: string(p.ID), Name: p.Name})
			if len(users) == maxPlanUsers {
				break
			}
		}
	}
	return users, nil
}

// inUse names users of a resource in a core.InUseError.
func inUse(resource string, users []plan.User) error {
	var kinds, refs []string
	for _, u := range users {
		kind := strings.ReplaceAll(u.Kind, "_", " ")
		if !slices.Contains(kinds, kind+"s") {
			kinds = append(kinds, kind+"s")
		}
		refs = append(refs, fmt.Sprintf("%s %s (%s)", kind, u.Name, u.ID))
	}
	usedBy := strings.Join(kinds, ", ")
	if i := strings.LastIndex(usedBy, ", "); i >= 0 {
		usedBy = usedBy[:i] + " and " + usedBy[i+2:]
	}
	return &core.InUseError{Resource: resource, UsedBy: usedBy, Refs: refs}
}

// planRefTables are the tables of what a call plan can name.
var planRefTables = map[string]string{
	"prompt":    "prompts",
	"schedule":  "schedules",
	"extension": "extensions",
	"call_plan": "call_plans",
}

// CallPlanRefExists reports whether something a call plan names is stored:
// kind is "prompt", "schedule", "extension" or "call_plan". While a
// feature's table is not there yet, nothing of that kind exists.
func (db *DB) CallPlanRefExists(ctx context.Context, kind, id string) (bool, error) {
	table, ok := planRefTables[kind]
	if !ok {
		return false, fmt.Errorf("call plan reference kind %q: %w", kind, core.ErrInvalid)
	}
	var n int
	if err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table); err != nil || n == 0 {
		return false, err
	}
	err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM `+table+` WHERE id = ?`, id)
	return n > 0, err
}

// columnExists reports whether table has column: migrations of features
// built alongside may not have run.
func columnExists(ctx context.Context, q sqlx.QueryerContext, table, column string) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column)
	return n > 0, err
}
