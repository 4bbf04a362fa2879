package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// maxCachedExtensions bounds each map of cachedDirectory; past it the map
// starts again empty.
const maxCachedExtensions = 100_000

// cachedDirectory is the store as the SIP front reads it, with the
// extensions calls look up (by number when dialled, by id when rung) kept
// between extension changes: changed, called after every change is stored
// (core.Extensions.OnChange), drops them, and a lookup that raced with a
// change is not kept. Callers get copies, without the SIP password: digest
// reads it by SIP user name (ExtensionBySIPUsername, EachExtension) from the
// store, and nothing else of the SIP front needs it.
type cachedDirectory struct {
	*store.DB
	gen      atomic.Uint64
	mu       sync.Mutex
	byNumber map[string]cachedExtension
	byID     map[core.ExtensionID]cachedExtension
}

type cachedExtension struct {
	gen uint64
	ext *core.Extension
}

func newCachedDirectory(db *store.DB) *cachedDirectory {
	return &cachedDirectory{DB: db, byNumber: map[string]cachedExtension{}, byID: map[core.ExtensionID]cachedExtension{}}
}

// changed forgets every cached extension.
func (d *cachedDirectory) changed(_, _ *core.Extension) {
	d.gen.Add(1)
	d.mu.Lock()
	clear(d.byNumber)
	clear(d.byID)
	d.mu.Unlock()
}

func (d *cachedDirectory) ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error) {
	return cachedLookup(d, d.byNumber, number, func() (*core.Extension, error) { return d.DB.ExtensionByNumber(ctx, number) })
}

func (d *cachedDirectory) GetExtension(ctx context.Context, id core.ExtensionID) (*core.Extension, error) {
	return cachedLookup(d, d.byID, id, func() (*core.Extension, error) { return d.DB.GetExtension(ctx, id) })
}

// cachedLookup finds key in m, else loads it and keeps it unless an
// extension changed meanwhile. Errors (not found included) are not kept.
func cachedLookup[K comparable](d *cachedDirectory, m map[K]cachedExtension, key K, load func() (*core.Extension, error)) (*core.Extension, error) {
	g := d.gen.Load()
	d.mu.Lock()
	c, ok := m[key]
	d.mu.Unlock()
	if ok && c.gen == g {
		e := *c.ext
		return &e, nil
	}
	ext, err := load()
	if err != nil {
		return nil, err
	}
	ext.SIPPassword = ""
	kept := *ext
	d.mu.Lock()
	if d.gen.Load() == g {
		if len(m) >= maxCachedExtensions {
			clear(m)
		}
		m[key] = cachedExtension{gen: g, ext: &kept}
	}
	d.mu.Unlock()
	return ext, nil
}

// extensionsChanged reports an extension change to each of fs in turn.
func extensionsChanged(fs ...func(before, after *core.Extension)) func(before, after *core.Extension) {
	return func(before, after *core.Extension) {
		for _, f := range fs {
			f(before, after)
		}
	}
}
