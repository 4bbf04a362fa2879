package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.MOHClassRepo = (*DB)(nil)

type mohClassRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Prompts   string `db:"prompts"`
	Order     string `db:"play_order"`
	Version   int64  `db:"version"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
}

const mohClassColumns = `id, name, prompts, play_order, version, created_at, updated_at`

func toMOHClassRow(c *core.MOHClass) mohClassRow {
	prompts, _ := json.Marshal(c.Prompts)
	return mohClassRow{ID: string(c.ID), Name: c.Name, Prompts: string(prompts), Order: string(c.Order),
		Version: c.Version, CreatedAt: micros(c.CreatedAt), UpdatedAt: micros(c.UpdatedAt)}
}

func (r *mohClassRow) class() (*core.MOHClass, error) {
	c := &core.MOHClass{ID: core.MOHClassID(r.ID), Name: r.Name, Order: core.MOHOrder(r.Order), Version: r.Version,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Prompts), &c.Prompts); err != nil {
		return nil, fmt.Errorf("music-on-hold class %s: prompts: %w", r.ID, err)
	}
	return c, nil
}

// mohPromptsExist names every stored prompt a class lists that does not exist.
func mohPromptsExist(ctx context.Context, q sqlx.QueryerContext, c *core.MOHClass) error {
	var v core.ValidationError
	for i, ref := range c.Prompts {
		if !strings.HasPrefix(ref, core.PrefixPrompt) {
			continue
		}
		var one int
		err := sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM prompts WHERE id = ?`, ref)
		if err := notFoundOK(err); err != nil {
			return err
		}
		if err != nil {
			v.Add(fmt.Sprintf("prompts[%d]", i), "names no stored prompt", ref)
		}
	}
	return v.Err()
}

// CreateMOHClass stores a class after checking its stored prompts exist.
func (db *DB) CreateMOHClass(ctx context.Context, c *core.MOHClass) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := mohPromptsExist(ctx, tx, c); err != nil {
			return err
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO moh_classes (`+mohClassColumns+`) VALUES (:id, :name, :prompts,
			:play_order, :version, :created_at, :updated_at)`, toMOHClassRow(c))
		return uniqueViolation(err, "music-on-hold class", map[string]string{"name": c.Name})
	})
}

// GetMOHClass loads one class.
func (db *DB) GetMOHClass(ctx context.Context, id core.MOHClassID) (*core.MOHClass, error) {
	var r mohClassRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+mohClassColumns+` FROM moh_classes WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "music-on-hold class", id)
	}
	return r.class()
}

// ListMOHClasses returns one page of classes ordered by name, then id.
func (db *DB) ListMOHClasses(ctx context.Context, p core.PageRequest) (core.Page[*core.MOHClass], error) {
	limit := p.Size()
	var afterName, afterID string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &afterName, &afterID); err != nil {
			return core.Page[*core.MOHClass]{}, err
		}
	}
	var rows []mohClassRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+mohClassColumns+` FROM moh_classes
		WHERE name > ? OR (name = ? AND id > ?) ORDER BY name, id LIMIT ?`, afterName, afterName, afterID, limit+1); err != nil {
		return core.Page[*core.MOHClass]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r mohClassRow) []any { return []any{r.Name, r.ID} })
	page := core.Page[*core.MOHClass]{Items: make([]*core.MOHClass, 0, len(rows)), NextCursor: next}
	for i := range rows {
		c, err := rows[i].class()
		if err != nil {
			return core.Page[*core.MOHClass]{}, err
		}
		page.Items = append(page.Items, c)
	}
	return page, nil
}

// UpdateMOHClass writes c if its stored version is still expectVersion.
func (db *DB) UpdateMOHClass(ctx context.Context, c *core.MOHClass, expectVersion int64) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM moh_classes WHERE id = ?`, c.ID); err != nil {
			return notFound(err, "music-on-hold class", c.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("music-on-hold class %s changed: %w", c.ID, core.ErrPrecondition)
		}
		if err := mohPromptsExist(ctx, tx, c); err != nil {
			return err
		}
		row := toMOHClassRow(c)
		row.Version = current + 1
		if _, err := tx.NamedExecContext(ctx, `UPDATE moh_classes SET name = :name, prompts = :prompts, play_order = :play_order,
			version = :version, updated_at = :updated_at WHERE id = :id`, row); err != nil {
			return uniqueViolation(err, "music-on-hold class", map[string]string{"name": c.Name})
		}
		c.Version = row.Version
		return nil
	})
}

// DeleteMOHClass removes a class unless it is the default one or in use by
// numbers or call plans (each looked for only once its migration is there).
func (db *DB) DeleteMOHClass(ctx context.Context, id core.MOHClassID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var one int
		if err := tx.GetContext(ctx, &one, `SELECT 1 FROM moh_classes WHERE id = ?`, id); err != nil {
			return notFound(err, "music-on-hold class", id)
		}
		if id == core.DefaultMOHClassID {
			return fmt.Errorf("the default music-on-hold class cannot be deleted: %w", core.ErrConflict)
		}
		var users []string
		if ok, err := schemaHasColumn(ctx, tx, "numbers", "moh_class_id"); err != nil {
			return err
		} else if ok {
			var numbers []string
			if err := tx.SelectContext(ctx, &numbers, `SELECT number FROM numbers WHERE moh_class_id = ? ORDER BY number LIMIT ?`, id, maxUsers); err != nil {
				return err
			}
			for _, n := range numbers {
				users = append(users, "number "+n)
			}
		}
		if ok, err := schemaHasTable(ctx, tx, "call_plans"); err != nil {
			return err
		} else if ok {
			var plans []struct {
				ID   string `db:"id"`
				Name string `db:"name"`
			}
			if err := tx.SelectContext(ctx, &plans, `SELECT id, name FROM call_plans WHERE instr(graph, ?) > 0 ORDER BY name, id LIMIT ?`, id, maxUsers); err != nil {
				return err
			}
			for _, p := range plans {
				users = append(users, fmt.Sprintf("call plan %q (%s)", p.Name, p.ID))
			}
		}
		if len(users) > 0 {
			return &core.InUseError{Resource: "music-on-hold class " + string(id), UsedBy: "numbers or call plans", Refs: users}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM moh_classes WHERE id = ?`, id)
		return err
	})
}
