package main

import (
	"context"
	"errors"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// The cached directory answers from its cache only until an extension
// changes: a renumbered, disabled or deleted extension is seen as such by
// the next lookup, by number and by id.
func TestCachedDirectoryFollowsChanges(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := newCachedDirectory(db)
	exts := &core.Extensions{Repo: db, OnChange: extensionsChanged(dir.changed)}
	e, err := exts.Create(ctx, core.ExtensionSpec{Number: "1002", Enabled: true, RingTimeoutSeconds: 30}, core.ExtensionChange{})
	if err != nil {
		t.Fatal(err)
	}
	byNumber := func(n string) *core.Extension {
		t.Helper()
		got, err := dir.ExtensionByNumber(ctx, n)
		if errors.Is(err, core.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for range 2 { // the second answer comes from the cache
		if got := byNumber("1002"); got == nil || got.ID != e.ID {
			t.Fatalf("1002: %+v", got)
		}
		got, err := dir.GetExtension(ctx, e.ID)
		if err != nil || !got.Enabled {
			t.Fatalf("by id: %+v, %v", got, err)
		}
		if got.SIPPassword != "" || byNumber("1002").SIPPassword != "" {
			t.Fatal("the directory gave out a SIP password")
		}
	}
	got, _ := dir.GetExtension(ctx, e.ID)
	got.Enabled = false // a caller's copy: the cache is not changed by it
	if again, _ := dir.GetExtension(ctx, e.ID); !again.Enabled {
		t.Fatal("a caller's change reached the cache")
	}
	if _, err := exts.Update(ctx, e.ID, 0, func(s *core.ExtensionSpec) (core.ExtensionChange, error) {
		s.Number, s.Enabled = "1003", false
		return core.ExtensionChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := byNumber("1002"); got != nil {
		t.Fatalf("the old number still finds %s", got.ID)
	}
	if got := byNumber("1003"); got == nil || got.Enabled {
		t.Fatalf("1003 after the change: %+v", got)
	}
	if got, err := dir.GetExtension(ctx, e.ID); err != nil || got.Enabled || got.Number != "1003" {
		t.Fatalf("by id after the change: %+v, %v", got, err)
	}
	if err := exts.Delete(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if got := byNumber("1003"); got != nil {
		t.Fatal("a deleted extension is still found by number")
	}
	if _, err := dir.GetExtension(ctx, e.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted extension by id: %v", err)
	}
}
