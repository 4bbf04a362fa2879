package auth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// fakeDirectory is a directory of extensions by SIP user name that counts
// its lookups by name.
type fakeDirectory struct {
	mu    sync.Mutex
	exts  map[string]*core.Extension // by SIP user name
	loads int
}

func newFakeDirectory(exts ...*core.Extension) *fakeDirectory {
	d := &fakeDirectory{exts: map[string]*core.Extension{}}
	for _, e := range exts {
		d.exts[e.SIPUsername] = e
	}
	return d
}

func (d *fakeDirectory) bySIP(_ context.Context, name string) (*core.Extension, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loads++
	if e, ok := d.exts[name]; ok {
		c := *e
		return &c, nil
	}
	return nil, fmt.Errorf("extension %s: %w", name, core.ErrNotFound)
}

func (d *fakeDirectory) byNumber(_ context.Context, number string) (*core.Extension, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loads++
	for _, e := range d.exts {
		if e.Number == number {
			c := *e
			return &c, nil
		}
	}
	return nil, fmt.Errorf("extension %s: %w", number, core.ErrNotFound)
}

// snapshot is the directory's extensions in a stable order.
func (d *fakeDirectory) snapshot() []*core.Extension {
	d.mu.Lock()
	defer d.mu.Unlock()
	var all []*core.Extension
	for _, e := range d.exts {
		c := *e
		all = append(all, &c)
	}
	slices.SortFunc(all, func(a, b *core.Extension) int {
		if a.Number < b.Number {
			return -1
		}
		return 1
	})
	return all
}

// each yields a snapshot taken when it is called, as one query does.
func (d *fakeDirectory) each(_ context.Context, fn func(*core.Extension) error) error {
	for _, e := range d.snapshot() {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (d *fakeDirectory) lookups() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.loads
	d.loads = 0
	return n
}

func testExt(id, user, number, password string, enabled bool, algs ...string) *core.Extension {
	return &core.Extension{ID: core.ExtensionID(id), SIPPassword: core.Secret(password),
		ExtensionSpec: core.ExtensionSpec{SIPUsername: user, Number: number, Enabled: enabled, SIPDigestAlgorithms: algs}}
}

func TestUserEntryIsSlim(t *testing.T) {
	ext := reflect.TypeFor[core.Extension]()
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(path, typ.Elem())
		case reflect.Struct:
			if typ == ext || typ == reflect.TypeFor[core.ExtensionSpec]() {
				t.Errorf("%s holds a %s", path, typ)
			}
			for i := range typ.NumField() {
				f := typ.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		}
	}
	walk("UserEntry", reflect.TypeFor[UserEntry]())

	d := newFakeDirectory(testExt("ext_a", "alice", "1001", "pw-alice", true, "SHA-256"))
	u := NewUsers("pbx.test", d.bySIP, d.byNumber, nil)
	u.Enable()
	if _, err := u.Preload(context.Background(), d.each); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*UserEntry{u.Get(context.Background(), "alice"), u.entry("alice", d.exts["alice"])} {
		want := UserEntry{ID: "ext_a", Name: "alice", Enabled: true, Challenge: []string{"SHA-256"},
			User: User{Algorithms: []string{"SHA-256"}, HA1: NewHA1("alice", "pbx.test", "pw-alice")}}
		if !reflect.DeepEqual(*e, want) {
			t.Fatalf("entry %+v, want %+v", *e, want)
		}
	}
}

// TestUsersPreload follows a cache filled by Preload through requests and
// extension changes: lookups counts the directory's lookups by name each
// step makes.
func TestUsersPreload(t *testing.T) {
	ctx := context.Background()
	d := newFakeDirectory(
		testExt("ext_a", "1001", "1001", "pw-a", true),
		testExt("ext_b", "bob", "1002", "pw-b", true, "SHA-256"),
		testExt("ext_c", "1003", "1003", "pw-c", false),
	)
	u := NewUsers("pbx.test", d.bySIP, d.byNumber, nil)
	u.Enable()
	n, err := u.Preload(ctx, d.each)
	if err != nil || n != 4 { // three user names and bob's number
		t.Fatalf("preloaded %d names: %v", n, err)
	}
	change := func(before, after *core.Extension) {
		d.mu.Lock()
		if before != nil {
			delete(d.exts, before.SIPUsername)
		}
		if after != nil {
			d.exts[after.SIPUsername] = after
		}
		d.mu.Unlock()
		u.ExtensionChanged(before, after)
	}
	steps := []struct {
		name      string
		do        func()
		user      string
		id        core.ExtensionID // "" for a name of no extension
		enabled   bool
		challenge []string
		ha1Of     string
		lookups   int
	}{
		{"user name = number: no lookup", func() {}, "1001", "ext_a", true, nil, "pw-a", 0},
		{"own user name: no lookup", func() {}, "bob", "ext_b", true, []string{"SHA-256"}, "pw-b", 0},
		{"number of another user name: challenged as its extension, no lookup", func() {}, "1002", "", false, []string{"SHA-256"}, "", 0},
		{"disabled: kept with its HA1, no lookup", func() {}, "1003", "ext_c", false, nil, "pw-c", 0},
		{"unknown: both lookups", func() {}, "mallory", "", false, nil, "", 2},
		{"unknown: remembered", func() {}, "mallory", "", false, nil, "", 0},
		{"password changed: read again", func() {
			change(d.exts["1001"], testExt("ext_a", "1001", "1001", "pw-a2", true))
		}, "1001", "ext_a", true, nil, "pw-a2", 1},
		{"changed: then cached", func() {}, "1001", "ext_a", true, nil, "pw-a2", 0},
		{"enabled: read again", func() {
			change(d.exts["1003"], testExt("ext_c", "1003", "1003", "pw-c", true))
		}, "1003", "ext_c", true, nil, "pw-c", 1},
		{"renamed: old name gone", func() {
			change(d.exts["bob"], testExt("ext_b", "robert", "1002", "pw-b", true, "SHA-256"))
		}, "bob", "", false, nil, "", 2},
		{"renamed: number read again", func() {}, "1002", "", false, []string{"SHA-256"}, "", 2},
		{"renamed: new name read", func() {}, "robert", "ext_b", true, []string{"SHA-256"}, "pw-b", 1},
		{"created after preload: read on first use", func() {
			change(nil, testExt("ext_d", "1004", "1004", "pw-d", true))
		}, "1004", "ext_d", true, nil, "pw-d", 1},
		{"deleted", func() { change(d.exts["1001"], nil) }, "1001", "", false, nil, "", 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			d.lookups()
			e := u.Get(ctx, st.user)
			if got := d.lookups(); got != st.lookups {
				t.Errorf("%d lookups, want %d", got, st.lookups)
			}
			if e.ID != st.id || e.Enabled != st.enabled || e.Name != st.user || !slices.Equal(e.Challenge, st.challenge) {
				t.Fatalf("entry %+v, want %s enabled %v challenged with %q", *e, st.id, st.enabled, st.challenge)
			}
			if st.ha1Of != "" && *e.User.HA1 != *NewHA1(st.user, "pbx.test", st.ha1Of) {
				t.Fatal("HA1 of another password")
			}
		})
	}
}

// TestUsersPreloadRacingChanges changes extensions while Preload reads
// them: a name changed meanwhile is not kept from the pass, whether the
// pass read it before or after the change, and is read again on first use.
func TestUsersPreloadRacingChanges(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		at     int // extensions yielded before the change
		change func(d *fakeDirectory, u *Users)
		user   string
		id     core.ExtensionID
		ha1Of  string
	}{
		{"password changed after it was read", 2, func(d *fakeDirectory, u *Users) {
			old := d.exts["1001"]
			d.exts["1001"] = testExt("ext_a", "1001", "1001", "pw-new", true)
			u.ExtensionChanged(old, d.exts["1001"])
		}, "1001", "ext_a", "pw-new"},
		{"password changed before it was read", 0, func(d *fakeDirectory, u *Users) {
			old := d.exts["1002"]
			d.exts["1002"] = testExt("ext_b", "1002", "1002", "pw-new", true)
			u.ExtensionChanged(old, d.exts["1002"])
		}, "1002", "ext_b", "pw-new"},
		{"deleted after it was read", 3, func(d *fakeDirectory, u *Users) {
			old := d.exts["1002"]
			delete(d.exts, "1002")
			u.ExtensionChanged(old, nil)
		}, "1002", "", ""},
		{"disabled after it was read", 1, func(d *fakeDirectory, u *Users) {
			old := d.exts["1001"]
			d.exts["1001"] = testExt("ext_a", "1001", "1001", "pw-a", false)
			u.ExtensionChanged(old, d.exts["1001"])
		}, "1001", "ext_a", "pw-a"},
		{"forgotten by name", 3, func(d *fakeDirectory, u *Users) { u.Forget("1003") }, "1003", "ext_c", "pw-c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDirectory(
				testExt("ext_a", "1001", "1001", "pw-a", true),
				testExt("ext_b", "1002", "1002", "pw-b", true),
				testExt("ext_c", "1003", "1003", "pw-c", true),
			)
			u := NewUsers("pbx.test", d.bySIP, d.byNumber, nil)
			u.Enable()
			each := func(ctx context.Context, fn func(*core.Extension) error) error {
				snap := d.snapshot()
				for i, e := range snap {
					if i == tt.at {
						d.mu.Lock()
						tt.change(d, u)
						d.mu.Unlock()
					}
					if err := fn(e); err != nil {
						return err
					}
				}
				if tt.at == len(snap) {
					d.mu.Lock()
					tt.change(d, u)
					d.mu.Unlock()
				}
				return nil
			}
			if n, err := u.Preload(ctx, each); err != nil || n != 2 {
				t.Fatalf("preloaded %d names: %v; want the 2 unchanged", n, err)
			}
			d.lookups()
			e := u.Get(ctx, tt.user)
			if n := d.lookups(); n == 0 {
				t.Fatal("changed name served from the preloaded pass")
			}
			if e.ID != tt.id || e.Enabled != (d.exts[tt.user] != nil && d.exts[tt.user].Enabled) {
				t.Fatalf("entry %+v after the change", *e)
			}
			if tt.ha1Of != "" && *e.User.HA1 != *NewHA1(tt.user, "pbx.test", tt.ha1Of) {
				t.Fatal("HA1 of another password")
			}
			if u.forgotten != nil {
				t.Fatal("names forgotten during the pass still tracked after it")
			}
		})
	}
}

// TestUsersPreloadConcurrent runs Preload, lookups and changes at once (for
// -race); afterwards every cached name must match the directory.
func TestUsersPreloadConcurrent(t *testing.T) {
	ctx := context.Background()
	const n = 200
	d := newFakeDirectory()
	for i := range n {
		name := fmt.Sprint(1000 + i)
		d.exts[name] = testExt("ext_"+name, name, name, "pw-0", true)
	}
	u := NewUsers("pbx.test", d.bySIP, d.byNumber, nil)
	u.Enable()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n {
				name := fmt.Sprint(1000 + (i*7+w*13)%n)
				if w%2 == 0 {
					u.Get(ctx, name)
					continue
				}
				d.mu.Lock()
				before := d.exts[name]
				after := testExt(string(before.ID), name, name, fmt.Sprintf("pw-%d-%d", w, i), i%3 != 0)
				d.exts[name] = after
				d.mu.Unlock()
				u.ExtensionChanged(before, after)
			}
		})
	}
	wg.Go(func() {
		if _, err := u.Preload(ctx, d.each); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for name, ext := range d.exts {
		e := u.Get(ctx, name)
		if e.ID != ext.ID || e.Enabled != ext.Enabled || *e.User.HA1 != *NewHA1(name, "pbx.test", ext.SIPPassword.Reveal()) {
			t.Fatalf("%s: stale entry", name)
		}
	}
}

func TestUsersPreloadEdges(t *testing.T) {
	ctx := context.Background()
	failing := func(_ context.Context, fn func(*core.Extension) error) error {
		if err := fn(testExt("ext_a", "1001", "1001", "pw-a", true)); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}
	tests := []struct {
		name    string
		enable  bool
		exts    []*core.Extension
		each    func(*fakeDirectory) func(context.Context, func(*core.Extension) error) error
		wantErr bool
		kept    int
		lookups int // by the first Get of 1001
	}{
		{"no extensions", true, nil, func(d *fakeDirectory) func(context.Context, func(*core.Extension) error) error { return d.each },
			false, 0, 2},
		{"failing pass keeps nothing: read on first use", true, []*core.Extension{testExt("ext_a", "1001", "1001", "pw-a", true)},
			func(*fakeDirectory) func(context.Context, func(*core.Extension) error) error { return failing }, true, 0, 1},
		{"not enabled: nothing read", false, []*core.Extension{testExt("ext_a", "1001", "1001", "pw-a", true)},
			func(*fakeDirectory) func(context.Context, func(*core.Extension) error) error { return failing }, false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDirectory(tt.exts...)
			u := NewUsers("pbx.test", d.bySIP, d.byNumber, func() time.Time { return time.Unix(1_800_000_000, 0) })
			if tt.enable {
				u.Enable()
			}
			n, err := u.Preload(ctx, tt.each(d))
			if (err != nil) != tt.wantErr || n != tt.kept || u.Len() != tt.kept {
				t.Fatalf("kept %d (%d cached), error %v", n, u.Len(), err)
			}
			u.Get(ctx, "1001")
			if got := d.lookups(); got != tt.lookups {
				t.Fatalf("%d lookups, want %d", got, tt.lookups)
			}
		})
	}
}
