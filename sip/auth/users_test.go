package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

func TestUsersCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exts := map[string]*core.Extension{}
	loads := 0
	find := func(_ context.Context, key string) (*core.Extension, error) {
		loads++
		if e, ok := exts[key]; ok {
			return e, nil
		}
		return nil, fmt.Errorf("extension %s: %w", key, core.ErrNotFound)
	}
	u := NewUsers("pbx.test", find, find, func() time.Time { return now })
	u.Enable()
	alice := &core.Extension{ID: "ext_a", ExtensionSpec: core.ExtensionSpec{SIPUsername: "alice", Number: "1001"}, SIPPassword: "pw-one"}
	exts["alice"] = alice
	steps := []struct {
		name      string
		do        func()
		user      string
		known     bool
		loads     int // lookups this step made
		wantHA1Of string
	}{
		{"first read loads", func() {}, "alice", true, 1, "pw-one"},
		{"second read is cached", func() {}, "alice", true, 0, "pw-one"},
		{"unknown name: both lookups", func() {}, "bob", false, 2, ""},
		{"unknown name remembered briefly", func() {}, "bob", false, 0, ""},
		{"created: forgotten at once", func() {
			bob := &core.Extension{ID: "ext_b", ExtensionSpec: core.ExtensionSpec{SIPUsername: "bob", Number: "1002"}, SIPPassword: "pw-bob"}
			exts["bob"] = bob
			u.ExtensionChanged(nil, bob)
		}, "bob", true, 1, "pw-bob"},
		{"password changed", func() {
			before := *alice
			alice = &core.Extension{ID: "ext_a", ExtensionSpec: alice.ExtensionSpec, SIPPassword: "pw-two"}
			exts["alice"] = alice
			u.ExtensionChanged(&before, alice)
		}, "alice", true, 1, "pw-two"},
		{"deleted", func() {
			delete(exts, "alice")
			u.ExtensionChanged(alice, nil)
		}, "alice", false, 2, ""},
		{"negative entry expires", func() { now = now.Add(time.Minute) }, "alice", false, 2, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			loads = 0
			e := u.Get(context.Background(), st.user)
			if e.Known() != st.known || loads != st.loads {
				t.Fatalf("known %v after %d lookups, want %v after %d", e.Known(), loads, st.known, st.loads)
			}
			if e.Name != st.user {
				t.Fatalf("entry of %q, want %q", e.Name, st.user)
			}
			if st.known {
				if e.User.Password != "" {
					t.Fatal("cached entry keeps the password")
				}
				if *e.User.HA1 != *NewHA1(st.user, "pbx.test", st.wantHA1Of) {
					t.Fatal("HA1 of another password")
				}
			}
		})
	}
}

func TestUsersDisabledPassesThrough(t *testing.T) {
	loads := 0
	find := func(context.Context, string) (*core.Extension, error) {
		loads++
		return &core.Extension{ID: "ext_a"}, nil
	}
	u := NewUsers("pbx.test", find, find, nil)
	u.Get(context.Background(), "a")
	u.Get(context.Background(), "a")
	if loads != 2 || u.Len() != 0 {
		t.Fatalf("%d lookups, %d cached", loads, u.Len())
	}
}

// TestUsersCached checks that Cached answers only from the cache: never
// before Enable, never by loading, and not with an expired negative entry.
func TestUsersCached(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	loads := 0
	find := func(_ context.Context, key string) (*core.Extension, error) {
		loads++
		if key == "alice" {
			return &core.Extension{ID: "ext_a", ExtensionSpec: core.ExtensionSpec{SIPUsername: "alice", Number: "1001"}, SIPPassword: "pw"}, nil
		}
		return nil, fmt.Errorf("extension %s: %w", key, core.ErrNotFound)
	}
	u := NewUsers("pbx.test", find, find, func() time.Time { return now })
	steps := []struct {
		name   string
		do     func()
		user   string
		cached bool
		known  bool
	}{
		{"before Enable", func() { u.Get(context.Background(), "alice") }, "alice", false, false},
		{"enabled, not yet read", u.Enable, "alice", false, false},
		{"read once", func() { u.Get(context.Background(), "alice") }, "alice", true, true},
		{"unknown name, read once", func() { u.Get(context.Background(), "bob") }, "bob", true, false},
		{"negative entry expired", func() { now = now.Add(time.Minute) }, "bob", false, false},
		{"known name stays", func() {}, "alice", true, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			loads = 0
			e, ok := u.Cached(st.user)
			if loads != 0 {
				t.Fatalf("Cached loaded %d times", loads)
			}
			if ok != st.cached || ok && e.Known() != st.known {
				t.Fatalf("Cached = %v, %v; want %v, known %v", e, ok, st.cached, st.known)
			}
		})
	}
}
