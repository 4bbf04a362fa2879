package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

func newMOHClass(name string, prompts ...core.PromptID) *core.MOHClass {
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := &core.MOHClass{ID: core.MOHClassID(core.NewID(core.PrefixMOHClass)), Name: name, Order: core.MOHOrdered,
		Version: 1, CreatedAt: now, UpdatedAt: now}
	for _, p := range prompts {
		c.Prompts = append(c.Prompts, string(p))
	}
	return c
}

func TestDefaultMOHClass(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if !core.HasPrefix(string(core.DefaultMOHClassID), core.PrefixMOHClass) {
		t.Fatalf("default class id %s is not well-formed", core.DefaultMOHClassID)
	}
	c, err := db.GetMOHClass(ctx, core.DefaultMOHClassID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != core.DefaultMOHClassName || !slices.Equal(c.Prompts, []string{"moh-default"}) || c.Order != core.MOHOrdered ||
		c.Version != 1 || time.Since(c.CreatedAt) > time.Hour {
		t.Fatalf("default class = %+v", c)
	}
	if err := db.DeleteMOHClass(ctx, core.DefaultMOHClassID); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("delete default: %v", err)
	}
	c.Order = core.MOHShuffle
	c.Prompts = []string{"moh-default", "goodbye"}
	if err := db.UpdateMOHClass(ctx, c, 1); err != nil {
		t.Fatalf("edit default: %v", err)
	}
	if got, _ := db.GetMOHClass(ctx, core.DefaultMOHClassID); got.Order != core.MOHShuffle || len(got.Prompts) != 2 || got.Version != 2 {
		t.Fatalf("after edit: %+v", got)
	}
}

func TestMOHClassRepo(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	p := newPrompt("Jazz", "en", "")
	mustCreatePrompt(t, db, p, []byte("x"))
	lobby := newMOHClass("lobby", p.ID)
	lobby.Prompts = append(lobby.Prompts, "moh-default")
	if err := db.CreateMOHClass(ctx, lobby); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetMOHClass(ctx, lobby.ID)
	if err != nil || !slices.Equal(got.Prompts, []string{string(p.ID), "moh-default"}) {
		t.Fatalf("get = %+v, %v", got, err)
	}

	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"duplicate name", func() error { return db.CreateMOHClass(ctx, newMOHClass("lobby", p.ID)) }, core.ErrConflict, "name"},
		{"duplicate of default", func() error { return db.CreateMOHClass(ctx, newMOHClass("default", p.ID)) }, core.ErrConflict, "name"},
		{"unknown stored prompt", func() error {
			return db.CreateMOHClass(ctx, newMOHClass("other", p.ID, "pmt_0000000000000000"))
		}, core.ErrInvalid, "prompts[1]"},
		{"update to unknown prompt", func() error {
			c := *lobby
			c.Prompts = []string{"pmt_0000000000000000"}
			return db.UpdateMOHClass(ctx, &c, lobby.Version)
		}, core.ErrInvalid, "prompts[0]"},
		{"rename onto taken", func() error {
			c := *lobby
			c.Name = "default"
			return db.UpdateMOHClass(ctx, &c, lobby.Version)
		}, core.ErrConflict, "name"},
		{"update stale", func() error { return db.UpdateMOHClass(ctx, lobby, 5) }, core.ErrPrecondition, ""},
		{"get unknown", func() error { _, err := db.GetMOHClass(ctx, "moh_nope"); return err }, core.ErrNotFound, ""},
		{"delete unknown", func() error { return db.DeleteMOHClass(ctx, "moh_nope") }, core.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.field == "" {
				return
			}
			var ce *core.ConflictError
			var ve core.ValidationError
			switch {
			case errors.As(err, &ce):
				if ce.Field != tt.field {
					t.Fatalf("conflict names %s, want %s", ce.Field, tt.field)
				}
			case errors.As(err, &ve):
				if len(ve) != 1 || ve[0].Field != tt.field {
					t.Fatalf("validation names %v, want %s", ve, tt.field)
				}
			default:
				t.Fatalf("error %v names no field", err)
			}
		})
	}

	page, err := db.ListMOHClasses(ctx, core.PageRequest{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != "default" || page.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = db.ListMOHClasses(ctx, core.PageRequest{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != "lobby" || page.NextCursor != "" {
		t.Fatalf("second page = %+v, %v", page, err)
	}

	if err := db.DeleteMOHClass(ctx, lobby.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetMOHClass(ctx, lobby.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted class still there: %v", err)
	}
}

func TestDeleteMOHClassInUse(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	c := newMOHClass("lobby")
	c.Prompts = []string{"moh-default"}
	if err := db.CreateMOHClass(ctx, c); err != nil {
		t.Fatal(err)
	}
	ensureCallPlans(t, db)
	if ok, _ := schemaHasColumn(ctx, db.r, "numbers", "moh_class_id"); ok {
		now := time.Now().UnixMicro()
		if _, err := db.w.Exec(`INSERT INTO numbers (id, number, kind, direction, route_type, created_at, updated_at, moh_class_id)
			VALUES ('num_0123456789abcdef', '+14155550100', 'local', 'bidirectional', 'reject', ?, ?, ?)`, now, now, c.ID); err != nil {
			t.Fatal(err)
		}
		err := db.DeleteMOHClass(ctx, c.ID)
		if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "number +14155550100") {
			t.Fatalf("delete while a number uses it: %v", err)
		}
		if _, err := db.w.Exec(`UPDATE numbers SET moh_class_id = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	insertCallPlan(t, db, "cpl_0123456789abcdef", "Queue", `{"nodes":[{"type":"hold","moh_class_id":"`+string(c.ID)+`"}]}`)
	err := db.DeleteMOHClass(ctx, c.ID)
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `call plan "Queue"`) {
		t.Fatalf("delete while a plan uses it: %v", err)
	}
	if _, err := db.w.Exec(`DELETE FROM call_plans`); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteMOHClass(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
}
