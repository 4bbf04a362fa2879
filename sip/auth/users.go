package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// Users caches, per SIP user name, what checking a phone's credentials
// needs: the extension and its HA1 values for the realm, so that a REGISTER
// reads no database row and opens no sealed password. Entries stay until
// Forget names them (every extension create, update and delete must be
// reported); names of no extension are remembered only for NegativeTTL,
// and at most maxNegative of them.
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
	neg     int    // entries for unknown names
}

const maxNegative = 10_000

// UserEntry is what is known about one SIP user name. It is shared and
// must not be changed.
type UserEntry struct {
	// Ext is the extension with this SIP user name, nil when none has it.
	// Its SIP password is left out.
	Ext *core.Extension
	// User is what Check needs: algorithms and precomputed HA1.
	User User
	// Challenge are the algorithms a challenge to this name offers: those
	// of Ext, else of the extension with this number; nil for the server's.
	Challenge []string
	expires   time.Time // zero: until forgotten
}

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

// Get returns what is known about name, loading it when it is not cached.
func (u *Users) Get(ctx context.Context, name string) *UserEntry {
	enabled := u.enabled.Load()
	var gen uint64
	if enabled {
		u.mu.RLock()
		e, gen0 := u.m[name], u.gen
		u.mu.RUnlock()
		if e != nil && (e.expires.IsZero() || u.now().Before(e.expires)) {
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
	if e.Ext == nil {
		if u.neg >= maxNegative {
			u.sweepLocked()
		}
		if u.neg >= maxNegative {
			return e
		}
	}
	if old := u.m[name]; old != nil && old.Ext == nil {
		u.neg--
	}
	u.m[name] = e
	if e.Ext == nil {
		u.neg++
	}
	return e
}

// load reads name from the directory; keep is false when a lookup failed
// for another reason than an unknown name.
func (u *Users) load(ctx context.Context, name string) (e *UserEntry, keep bool) {
	ext, err := u.bySIP(ctx, name)
	if err == nil {
		c := *ext
		c.SIPPassword = ""
		return &UserEntry{Ext: &c, Challenge: ext.SIPDigestAlgorithms,
			User: User{Algorithms: ext.SIPDigestAlgorithms, HA1: NewHA1(name, u.realm, ext.SIPPassword.Reveal())}}, true
	}
	keep = errors.Is(err, core.ErrNotFound)
	e = &UserEntry{expires: u.now().Add(u.NegativeTTL)}
	if byNum, err := u.byNumber(ctx, name); err == nil {
		e.Challenge = byNum.SIPDigestAlgorithms
	} else if !errors.Is(err, core.ErrNotFound) {
		keep = false
	}
	return e, keep
}

// Forget drops the entries of names (SIP user names and numbers an
// extension had or has), so the next request reads them again.
func (u *Users) Forget(names ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	for _, n := range names {
		if e := u.m[n]; e != nil {
			if e.Ext == nil {
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
	now := u.now()
	for n, e := range u.m {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			delete(u.m, n)
			u.neg--
		}
	}
}
