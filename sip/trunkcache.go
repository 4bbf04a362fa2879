package sip

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/dialtone-pbx/dialtone/core"
)

// trunkCache keeps the enabled trunks between changes, so an INVITE finds
// the trunk it comes from without a query (and without unsealing every
// trunk's password). TrunksChanged, called after every trunk write, moves
// the generation on; a list read before that is never used after it.
type trunkCache struct {
	gen  atomic.Uint64
	list atomic.Pointer[cachedTrunks]
}

type cachedTrunks struct {
	gen    uint64
	trunks []*core.Trunk
}

// enabledTrunks returns the enabled trunks, shared: callers must not
// change them.
func (s *Server) enabledTrunks(ctx context.Context) ([]*core.Trunk, error) {
	c := &s.trunkCache
	g := c.gen.Load()
	if l := c.list.Load(); l != nil && l.gen == g {
		return l.trunks, nil
	}
	trunks, err := s.dir.EnabledTrunks(ctx)
	if err != nil {
		return nil, err
	}
	// Two loads may overlap (the trunk keeper's and a request's): the one
	// that began later is kept, whichever ends last.
	next := &cachedTrunks{gen: g, trunks: trunks}
	for {
		cur := c.list.Load()
		if cur != nil && cur.gen >= g || c.list.CompareAndSwap(cur, next) {
			return trunks, nil
		}
	}
}

// cachedTrunkFor is trunkFor from memory alone: known is false when the
// cache of trunks is not current, and then nothing was decided.
func (s *Server) cachedTrunkFor(ip netip.Addr) (t *core.Trunk, known bool) {
	c := &s.trunkCache
	l := c.list.Load()
	if l == nil || l.gen != c.gen.Load() {
		return nil, false
	}
	return s.trunkAmong(l.trunks, ip), true
}
