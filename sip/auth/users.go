package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// Users caches, per SIP user name, what checking a phone's credentials
// needs: the extension's ID, whether it is enabled, its digest algorithms
// and its HA1 values for the realm, so that a REGISTER reads no database
// row and opens no sealed password. Preload fills it with every extension
// at once; names it does not hold are read on first use. Entries stay until
// Forget names them (every extension create, update and delete must be
// reported); names of no extension are remembered only for NegativeTTL, and
// at most maxNegative of them.
type Users struct {
	realm    string
	bySIP    func(ctx context.Context, name string) (*core.Extension, error)
	byNumber func(ctx context.Context, number string) (*core.Extension, error)
	now      func() time.Time
	// NegativeTTL is how long a name that belongs to no extension is remembered.
	NegativeTTL time.Duration

	enabled atomic.Bool
	mu      sync.RWMutex
	m       map[string]*UserEntry
	gen     uint64 // bumped by Forget; a load that overlapped one is not kept
	neg     int    // entries that expire (names of no extension)
	// preloads counts the Preload calls under way; while there are any,
	// forgotten holds every name Forget was given, which they must not keep.
	preloads  int
	forgotten map[string]struct{}
}

const maxNegative = 10_000

// UserEntry is what is known about one SIP user name. It is shared and
// must not be changed.
type UserEntry struct {
	// ID is the extension with this SIP user name, "" when none has it.
	ID core.ExtensionID
	// Name is the SIP user name.
	Name string
	// Enabled is whether the extension may register and call.
	Enabled bool
	// User is what Check needs: algorithms and precomputed HA1.
	User User
	// Challenge are the algorithms a challenge to this name offers: those
	// of the extension with this SIP user name, else of the extension with
	// this number; nil for the server's.
	Challenge []string
	expires   int64 // Unix nanoseconds; 0: until forgotten
}

// Known reports whether an extension has this SIP user name.
func (e *UserEntry) Known() bool { return e.ID != "" }

// NewUsers returns a cache for realm reading extensions by SIP user name and
// by number. It passes every lookup through until Enable.
func NewUsers(realm string, bySIP, byNumber func(ctx context.Context, key string) (*core.Extension, error), now func() time.Time) *Users {
	if now == nil {
		now = time.Now
	}
	return &Users{realm: realm, bySIP: bySIP, byNumber: byNumber, now: now, NegativeTTL: 10 * time.Second,
		m: map[string]*UserEntry{}}
}

// Enable starts keeping entries; from then on every extension change must
// be reported to Forget.
func (u *Users) Enable() { u.enabled.Store(true) }

// Cached returns what the cache holds about name without reading the
// directory: false when caching is off or name is not held (or its entry
// expired), and Get would have to load it.
func (u *Users) Cached(name string) (*UserEntry, bool) {
	if !u.enabled.Load() {
		return nil, false
	}
	u.mu.RLock()
	e := u.m[name]
	u.mu.RUnlock()
	if e == nil || e.expires != 0 && u.now().UnixNano() >= e.expires {
		return nil, false
	}
	return e, true
}

// Get returns what is known about name, loading it when it is not cached.
func (u *Users) Get(ctx context.Context, name string) *UserEntry {
	enabled := u.enabled.Load()
	var gen uint64
	if enabled {
		u.mu.RLock()
		e, gen0 := u.m[name], u.gen
		u.mu.RUnlock()
		if e != nil && (e.expires == 0 || u.now().UnixNano() < e.expires) {
			return e
		}
		gen = gen0
	}
	e, keep := u.load(ctx, name)
	if !enabled || !keep {
		return e
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gen != gen {
		return e // an extension changed while loading: this may be stale
	}
	if e.expires != 0 {
		if u.neg >= maxNegative {
			u.sweepLocked()
		}
		if u.neg >= maxNegative {
			return e
		}
	}
	u.putLocked(e)
	return e
}

// putLocked stores e under its name.
func (u *Users) putLocked(e *UserEntry) {
	if old := u.m[e.Name]; old != nil && old.expires != 0 {
		u.neg--
	}
	u.m[e.Name] = e
	if e.expires != 0 {
		u.neg++
	}
}

// entry is what is kept about ext under its SIP user name; HA1 is hashed
// with name, the user name the phone's credentials give.
func (u *Users) entry(name string, ext *core.Extension) *UserEntry {
	return &UserEntry{ID: ext.ID, Name: name, Enabled: ext.Enabled, Challenge: ext.SIPDigestAlgorithms,
		User: User{Algorithms: ext.SIPDigestAlgorithms, HA1: NewHA1(name, u.realm, ext.SIPPassword.Reveal())}}
}

// load reads name from the directory; keep is false when a lookup failed
// for another reason than an unknown name. The entry does not share name's
// memory, which may be a piece of a whole request.
func (u *Users) load(ctx context.Context, name string) (e *UserEntry, keep bool) {
	ext, err := u.bySIP(ctx, name)
	if err == nil {
		if ext.SIPUsername != name {
			return u.entry(strings.Clone(name), ext), true
		}
		return u.entry(ext.SIPUsername, ext), true
	}
	keep = errors.Is(err, core.ErrNotFound)
	e = &UserEntry{Name: strings.Clone(name), expires: u.now().Add(u.NegativeTTL).UnixNano()}
	if byNum, err := u.byNumber(ctx, name); err == nil {
		e.Challenge = byNum.SIPDigestAlgorithms
	} else if !errors.Is(err, core.ErrNotFound) {
		keep = false
	}
	return e, keep
}

// Preload keeps an entry for every extension each yields (in one pass over
// the directory, such as store.(*DB).EachExtension), and one for each
// extension number that is no SIP user name, so that requests naming them
// read nothing. It does nothing before Enable. Names an extension change
// was reported for while it ran are left to be read on first use, and so
// are all names when each fails. It returns the number of names kept.
func (u *Users) Preload(ctx context.Context, each func(ctx context.Context, fn func(*core.Extension) error) error) (int, error) {
	if !u.enabled.Load() {
		return 0, nil
	}
	u.mu.Lock()
	if u.preloads == 0 {
		u.forgotten = map[string]struct{}{}
	}
	u.preloads++
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		if u.preloads--; u.preloads == 0 {
			u.forgotten = nil
		}
		u.mu.Unlock()
	}()
	var users []*UserEntry
	numbers := map[string][]string{} // number -> the algorithms of its extension
	err := each(ctx, func(ext *core.Extension) error {
		users = append(users, u.entry(ext.SIPUsername, ext))
		if ext.Number != ext.SIPUsername {
			numbers[ext.Number] = ext.SIPDigestAlgorithms
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	kept := 0
	put := func(e *UserEntry) {
		if _, changed := u.forgotten[e.Name]; changed {
			return
		}
		if old := u.m[e.Name]; old != nil && old.Known() {
			return // read since Preload began: as new as e
		}
		u.putLocked(e)
		kept++
	}
	for _, e := range users {
		put(e)
		delete(numbers, e.Name) // a SIP user name is challenged as its own extension
	}
	for number, algs := range numbers {
		put(&UserEntry{Name: number, Challenge: algs})
	}
	return kept, nil
}

// Forget drops the entries of names (SIP user names and numbers an
// extension had or has), so the next request reads them again.
func (u *Users) Forget(names ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	for _, n := range names {
		if u.forgotten != nil {
			u.forgotten[n] = struct{}{}
		}
		if e := u.m[n]; e != nil {
			if e.expires != 0 {
				u.neg--
			}
			delete(u.m, n)
		}
	}
}

// ExtensionChanged forgets what before (nil on create) and after (nil on
// delete) are known by; it suits core.Extensions.OnChange.
func (u *Users) ExtensionChanged(before, after *core.Extension) {
	var names []string
	for _, e := range []*core.Extension{before, after} {
		if e != nil {
			names = append(names, e.SIPUsername, e.Number)
		}
	}
	u.Forget(names...)
}

// Len is the number of cached names.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.m)
}

func (u *Users) sweepLocked() {
	now := u.now().UnixNano()
	for n, e := range u.m {
		if e.expires != 0 && now >= e.expires {
			delete(u.m, n)
			u.neg--
		}
	}
}
