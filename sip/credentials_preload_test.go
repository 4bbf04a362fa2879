package sip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// countingDirectory is the store counting the lookups of one extension by
// SIP user name or number; failEach makes the pass over every extension fail.
type countingDirectory struct {
	*store.DB
	lookups  atomic.Int64
	failEach error
}

func (d *countingDirectory) ExtensionBySIPUsername(ctx context.Context, name string) (*core.Extension, error) {
	d.lookups.Add(1)
	return d.DB.ExtensionBySIPUsername(ctx, name)
}

func (d *countingDirectory) ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error) {
	d.lookups.Add(1)
	return d.DB.ExtensionByNumber(ctx, number)
}

func (d *countingDirectory) EachExtension(ctx context.Context, fn func(*core.Extension) error) error {
	if d.failEach != nil {
		return d.failEach
	}
	return d.DB.EachExtension(ctx, fn)
}

type preloadExt struct {
	number, user, password string
	disabled               bool
}

// newPreloadedBench is a SIP front on a real store holding exts before the
// credential cache is turned on.
func newPreloadedBench(t *testing.T, failEach error, exts ...preloadExt) (*registerBench, *countingDirectory, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	b := &registerBench{exts: &core.Extensions{Repo: db}, tx: benchTx{conn: &benchConn{}}}
	for _, e := range exts {
		spec := core.DefaultExtensionSpec()
		spec.Number, spec.SIPUsername, spec.Enabled = e.number, e.user, !e.disabled
		pw := e.password
		if _, err := b.exts.Create(ctx, spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
			t.Fatal(err)
		}
	}
	dir := &countingDirectory{DB: db, failEach: failEach}
	var logs bytes.Buffer
	s, err := Listen(Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41400, RTPMax: 41500},
		slog.New(slog.NewTextHandler(&logs, nil)), dir, db, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		s.Shutdown(stop)
	})
	b.s = s
	b.exts.OnChange = s.CacheCredentials()
	return b, dir, &logs
}

// TestPreloadedCredentials registers phones of extensions that existed when
// the credential cache was turned on, and follows changes made after: a
// phone's first REGISTER reads no extension from the store.
func TestPreloadedCredentials(t *testing.T) {
	ctx := context.Background()
	b, dir, _ := newPreloadedBench(t, nil,
		preloadExt{"1001", "1001", "password-1001-x", false},
		preloadExt{"1002", "bob", "password-bob-xx", false},
		preloadExt{"1003", "1003", "password-1003-x", true},
	)
	if n := b.s.users.Len(); n != 4 { // three user names and bob's number
		t.Fatalf("%d names preloaded", n)
	}
	byUser := func(user string) *core.Extension {
		ext, err := b.s.dir.ExtensionBySIPUsername(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		dir.lookups.Store(0)
		return ext
	}
	branch := 0
	steps := []struct {
		name     string
		change   func()
		user     string
		password string
		want     int
		lookups  int64
	}{
		{"preloaded", func() {}, "1001", "password-1001-x", sip.StatusOK, 0},
		{"preloaded, user name not the number", func() {}, "bob", "password-bob-xx", sip.StatusOK, 0},
		{"preloaded, wrong password", func() {}, "bob", "wrong-password-1", sip.StatusUnauthorized, 0},
		{"preloaded, disabled", func() {}, "1003", "password-1003-x", sip.StatusForbidden, 0},
		{"password changed after the preload", func() {
			pw := "password-1001-y"
			if _, err := b.exts.Update(ctx, byUser("1001").ID, 0, func(*core.ExtensionSpec) (core.ExtensionChange, error) {
				return core.ExtensionChange{SIPPassword: &pw}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "1001", "password-1001-y", sip.StatusOK, 1},
		{"old password refused", func() {}, "1001", "password-1001-x", sip.StatusUnauthorized, 0},
		{"disabled after the preload", func() {
			if _, err := b.exts.Update(ctx, byUser("bob").ID, 0, func(s *core.ExtensionSpec) (core.ExtensionChange, error) {
				s.Enabled = false
				return core.ExtensionChange{}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "bob", "password-bob-xx", sip.StatusForbidden, 1},
		{"created after the preload: read on first use", func() {
			spec := core.DefaultExtensionSpec()
			spec.Number = "1004"
			pw := "password-1004-x"
			if _, err := b.exts.Create(ctx, spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
				t.Fatal(err)
			}
		}, "1004", "password-1004-x", sip.StatusOK, 1},
		{"deleted after the preload", func() {
			if err := b.exts.Delete(ctx, byUser("1001").ID); err != nil {
				t.Fatal(err)
			}
		}, "1001", "password-1001-y", sip.StatusUnauthorized, 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			dir.lookups.Store(0)
			u := &benchUser{name: st.user, password: st.password, callID: "preload-" + st.user}
			if got := b.exchange(t, u, 5062, &branch); got != st.want {
				t.Fatalf("status %d, want %d", got, st.want)
			}
			if got := dir.lookups.Load(); got != st.lookups {
				t.Fatalf("%d lookups by name, want %d", got, st.lookups)
			}
			if st.want == sip.StatusOK {
				ext := byUser(st.user)
				bs := b.s.Registry.Lookup(ext.ID)
				if len(bs) != 1 || bs[0].Username != st.user {
					t.Fatalf("bindings of %s: %+v", ext.ID, bs)
				}
			}
		})
	}
}

// TestPreloadFallsBack starts with no extensions, and with a pass over the
// extensions that fails: both leave extensions to be read on first use.
func TestPreloadFallsBack(t *testing.T) {
	tests := []struct {
		name     string
		failEach error
		exts     []preloadExt
		create   bool // create 1001 after the cache is on
		lookups  int64
		logged   string
	}{
		{"no extensions", nil, nil, true, 1, ""},
		{"failing pass", errors.New("disk on fire"), []preloadExt{{"1001", "1001", "password-1001-x", false}}, false, 1,
			"sip credentials not preloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, dir, logs := newPreloadedBench(t, tt.failEach, tt.exts...)
			if b.s.users.Len() != 0 {
				t.Fatalf("%d names cached", b.s.users.Len())
			}
			if tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Fatalf("not logged: %q in %q", tt.logged, logs.String())
			}
			if tt.create {
				spec := core.DefaultExtensionSpec()
				spec.Number = "1001"
				pw := "password-1001-x"
				if _, err := b.exts.Create(context.Background(), spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
					t.Fatal(err)
				}
			}
			dir.lookups.Store(0)
			branch := 0
			u := &benchUser{name: "1001", password: "password-1001-x", callID: "fallback"}
			if got := b.exchange(t, u, 5062, &branch); got != sip.StatusOK {
				t.Fatalf("status %d", got)
			}
			if got := dir.lookups.Load(); got != tt.lookups {
				t.Fatalf("%d lookups by name, want %d", got, tt.lookups)
			}
		})
	}
}
