// Package b2bua connects calls between SIP phones as a back-to-back user
// agent: each call has an A-leg (the caller's dialog, where we are the UAS)
// and a B-leg (the callee's dialog, where we are the UAC), with media anchored
// in a relay between them.
package b2bua

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/core/routing"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// Directory finds extensions.
type Directory interface {
	ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error)
	GetExtension(ctx context.Context, id core.ExtensionID) (*core.Extension, error)
	GetTrunk(ctx context.Context, id core.TrunkID) (*core.Trunk, error)
	ListOutboundRoutes(ctx context.Context) ([]*core.OutboundRoute, error)
	NumberByE164(ctx context.Context, e164 string) (*core.PhoneNumber, error)
	FirstNumberOfTrunk(ctx context.Context, id core.TrunkID) (*core.PhoneNumber, error)
}

// Config of the B2BUA.
type Config struct {
	Domain       string
	Advertise    netip.Addr    // our address in SDP
	MediaTimeout time.Duration // hang up when no RTP flows either way for this long
	Codecs       []codec.Codec // offered and accepted, in order of preference
	Country      string        // home country for classifying dialled numbers
	Emergency    []string      // always allowed, whatever the permissions
	// MinSE is the shortest session interval the PBX accepts (RFC 4028
	// §5); default 90 s, the RFC's floor, which tests may go below.
	MinSE time.Duration
	// SessionExpires is the session interval the PBX asks of callees
	// (RFC 4028 §7.1); default 1800 s.
	SessionExpires time.Duration
}

// Clients are the SIP clients and contacts per transport ("UDP", "TCP").
type Clients map[string]*sipgo.DialogUA

// B2BUA places and tracks calls.
type B2BUA struct {
	cfg      Config
	log      *slog.Logger
	uas      Clients
	dir      Directory
	registry *registrar.Registry
	pool     *media.PortPool
	records  call.RecordRepo
	events   core.EventLog

	mu       sync.Mutex
	calls    map[call.ID]*Call
	order    liveOrder        // the calls in list order
	byDialog map[string]*Call // A-leg and B-leg dialog ids
	// byCaller: the callers' INVITEs whose transaction ended at their ACK
	// (retransmit.go), by Call-ID and From tag.
	byCaller map[string]answeredInvite
	wg       sync.WaitGroup
	closing  bool
	ended    mediaTotals // media counters of the legs of ended calls (stats.go)
	observer Observer
	router   *routing.Resolver
	engine   Engine

	// TrunkAuthFailedHook, set before calls flow, hears of a carrier
	// refusing a trunk's credentials on a call (status 401, 407 or 403).
	TrunkAuthFailedHook func(id core.TrunkID, status int)

	// InfoDTMFHook, set before calls flow, hears of each digit a party of
	// a call sent by INFO (info.go), for the call engine's digit
	// collection.
	InfoDTMFHook func(id call.ID, from call.Party, digit byte)
}

// New returns a B2BUA.
func New(cfg Config, log *slog.Logger, uas Clients, dir Directory, reg *registrar.Registry, pool *media.PortPool, records call.RecordRepo, events core.EventLog) *B2BUA {
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []codec.Codec{codec.PCMU, codec.PCMA}
	}
	if len(cfg.Emergency) == 0 {
		cfg.Emergency = core.DefaultEmergencyNumbers
	}
	if cfg.Country == "" {
		cfg.Country = "US"
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = 60 * time.Second
	}
	if cfg.MinSE <= 0 {
		cfg.MinSE = DefaultMinSE
	}
	if cfg.SessionExpires < cfg.MinSE {
		cfg.SessionExpires = max(DefaultSessionExpires, cfg.MinSE)
	}
	b := &B2BUA{cfg: cfg, log: log, uas: uas, dir: dir, registry: reg, pool: pool, records: records, events: events,
		calls: map[call.ID]*Call{}, byDialog: map[string]*Call{},
		byCaller: map[string]answeredInvite{}}
	b.router = &routing.Resolver{Extensions: dir, Emergency: cfg.Emergency}
	b.protectSignalling()
	return b
}

// callsLocked appends the live calls to dst, to be looked at once the lock
// is let go. The lock is held.
func (b *B2BUA) callsLocked(dst []*Call) []*Call {
	return slices.AppendSeq(slices.Grow(dst, len(b.calls)), maps.Values(b.calls))
}

func (b *B2BUA) dialogUA(transport string) *sipgo.DialogUA {
	if ua, ok := b.uas[transport]; ok {
		return ua
	}
	return b.uas["UDP"]
}

func (b *B2BUA) track(c *Call) bool {
	c.mu.Lock()
	c.publishHead()
	c.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.listLocked(c)
	b.wg.Add(1)
	return true
}

// listLocked adds c to the live calls. b.mu is held.
func (b *B2BUA) listLocked(c *Call) {
	b.calls[c.id] = c
	b.order.insert(c)
}

func (b *B2BUA) bindDialog(id string, c *Call) {
	b.mu.Lock()
	b.byDialog[id] = c
	b.mu.Unlock()
}

func (b *B2BUA) forget(c *Call) {
	b.mu.Lock()
	if _, ok := b.calls[c.id]; ok {
		b.retireLocked(c)
		delete(b.calls, c.id)
		b.order.remove(c)
		b.wg.Done()
	}
	for _, id := range c.dialogIDs() {
		if b.byDialog[id] == c {
			delete(b.byDialog, id)
		}
	}
	if c.callerKey != "" && b.byCaller[c.callerKey].c == c {
		delete(b.byCaller, c.callerKey)
	}
	b.mu.Unlock()
}

// Client is the SIP client for a transport ("UDP" or "TCP").
func (b *B2BUA) Client(transport string) *sipgo.Client { return b.dialogUA(transport).Client }

// TrunkChannels counts the live calls using a trunk: in, out, or both for an
// inbound call sent back out.
func (b *B2BUA) TrunkChannels(id core.TrunkID) int {
	b.mu.Lock()
	list := b.callsLocked(nil)
	b.mu.Unlock()
	n := 0
	for _, c := range list {
		c.mu.Lock()
		if (c.rec.TrunkID == string(id) || c.rec.OutboundTrunkID == string(id)) && c.state != call.StateEnded {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// Calls returns snapshots of the live calls q selects, in list order, read
// from the cursor on until the page is full. A call whose numbers changed
// between its selection and its snapshot (a transfer) is judged again on
// its snapshot, and the page is filled from the calls after it.
func (b *B2BUA) Calls(q call.LiveQuery) []call.Snapshot {
	lp := livePages.Get().(*liveOrder)
	b.mu.Lock()
	from := b.order.after(q.AfterAt, q.AfterID)
	if q.Limit > 0 && !q.ByNumber {
		// Every call after the cursor goes on the page: it is the next
		// Limit of them.
		from = from[:min(len(from), q.Limit)]
	}
	list := append((*lp)[:0], from...)
	b.mu.Unlock()
	defer func() {
		clear(list) // the pool holds no call
		*lp = list[:0]
		livePages.Put(lp)
	}()
	size := len(list)
	if q.Limit > 0 {
		size = min(size, q.Limit)
	}
	// The page and its legs (two a call at most) are allocated once.
	out := make([]call.Snapshot, 0, size)
	legs := make([]call.LegSnapshot, 0, 2*size)
	for _, p := range list {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if q.ByNumber && !q.Takes(p.c.head()) {
			continue
		}
		// The numbers may have changed since: the snapshot is what is
		// judged.
		s, more := p.c.snapshot(legs)
		if q.Takes(call.SnapshotHead(s)) {
			out, legs = append(out, s), more
		}
	}
	return out
}

// livePages recycles the lists of live calls Calls reads a page from.
var livePages = sync.Pool{New: func() any { return new(liveOrder) }}

// Live counts the calls up.
func (b *B2BUA) Live() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// Call returns the live call with the given id.
func (b *B2BUA) Call(id call.ID) (call.Snapshot, bool) {
	b.mu.Lock()
	c, ok := b.calls[id]
	b.mu.Unlock()
	if !ok {
		return call.Snapshot{}, false
	}
	return c.Snapshot(), true
}

// Hangup ends a live call on behalf of the API.
func (b *B2BUA) Hangup(ctx context.Context, id call.ID) error {
	b.mu.Lock()
	c, ok := b.calls[id]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("call %s: %w", id, core.ErrNotFound)
	}
	c.hangup(call.BySystem, call.CauseAPIHangup)
	return nil
}

// Shutdown hangs up every call and waits (bounded by ctx) for their records.
func (b *B2BUA) Shutdown(ctx context.Context) {
	b.mu.Lock()
	b.closing = true
	list := b.callsLocked(nil)
	b.mu.Unlock()
	for _, c := range list {
		go c.hangup(call.BySystem, call.CauseShutdown)
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// lookup finds the call and leg an in-dialog request belongs to, whether the
// PBX is the UAS or the UAC of that leg.
func (b *B2BUA) lookup(req *sip.Request) (*Call, dialog, bool) {
	var ids []string
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		ids = append(ids, id)
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		ids = append(ids, id)
	}
	for _, id := range ids {
		b.mu.Lock()
		c := b.byDialog[id]
		b.mu.Unlock()
		if c == nil {
			continue
		}
		if d, isA := c.side(req); d != nil {
			return c, d, isA
		}
	}
	return nil, nil, false
}

func noCall(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
}

// HandleAck routes an in-dialog ACK.
func (b *B2BUA) HandleAck(req *sip.Request, tx sip.ServerTransaction) {
	if c, d, isA := b.lookup(req); d != nil {
		c.ackReceived(req, isA)
		d.readAck(req, tx)
	}
}

// HandleBye routes a BYE to its call: from the caller or from the callee.
func (b *B2BUA) HandleBye(req *sip.Request, tx sip.ServerTransaction) {
	c, d, isA := b.lookup(req)
	if d == nil {
		noCall(req, tx)
		return
	}
	if isA {
		c.callerBye.Store(true)
	}
	if err := d.readBye(req, tx); err != nil {
		noCall(req, tx)
		return
	}
	party := call.ByCallee
	if isA {
		party = call.ByCaller
	}
	c.hangup(party, call.CauseNormal)
}

// HandleReinvite answers an in-dialog INVITE (hold, resume, session refresh).
func (b *B2BUA) HandleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c, d, isA := b.lookup(req)
	if d == nil {
		noCall(req, tx)
		return
	}
	c.reinvite(req, tx, isA)
}
