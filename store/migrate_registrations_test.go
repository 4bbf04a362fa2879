package store

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/pressly/goose/v3"
)

// migrations runs the store's migrations on db, for tests that take them
// down and up again.
func migrations(t *testing.T, db *DB) *goose.Provider {
	t.Helper()
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w.DB, sub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The migration that stores registrations in key order keeps every binding,
// both ways, and the bindings still follow their extension's deletion.
func TestRegistrationsMigrationKeepsBindings(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	a, b := newExt("2101"), newExt("2102")
	for _, e := range []*core.Extension{a, b} {
		if err := db.CreateExtension(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var regs []core.Registration
	for i, e := range []*core.Extension{a, a, b} {
		regs = append(regs, core.Registration{ExtensionID: e.ID, Username: e.SIPUsername,
			Contact: "sip:" + e.Number + "@192.0.2." + string(rune('1'+i)) + ":5060", Source: "192.0.2.1:5060",
			Transport: "UDP", CallID: "c", CSeq: uint32(i + 1), RegisteredAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	if err := db.SaveRegistrations(ctx, regs, nil); err != nil {
		t.Fatal(err)
	}
	p := migrations(t, db)
	count := func(step string, want int) {
		t.Helper()
		got, err := db.LoadRegistrations(ctx, now)
		if err != nil || len(got) != want {
			t.Fatalf("%s: %d bindings (%v), want %d", step, len(got), err, want)
		}
	}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"down", func() error { _, err := p.DownTo(ctx, 15); return err }},
		{"up", func() error { _, err := p.Up(ctx); return err }},
	} {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		count(step.name, 3)
	}
	if err := db.DeleteExtension(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	count("after deleting an extension", 1)
}
