// Package b2bua connects calls between SIP phones as a back-to-back user
// agent: each call has an A-leg (the caller's dialog, where we are the UAS)
// and a B-leg (the callee's dialog, where we are the UAC), with media anchored
// in a relay between them.
package b2bua

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// Directory finds extensions.
type Directory interface {
	ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error)
}

// Config of the B2BUA.
type Config struct {
	Domain       string
	Advertise    netip.Addr    // our address in SDP
	MediaTimeout time.Duration // hang up when no RTP flows either way for this long
	Codecs       []codec.Codec // offered and accepted, in order of preference
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
	byDialog map[string]*Call // A-leg and B-leg dialog ids
	wg       sync.WaitGroup
	closing  bool
}

// New returns a B2BUA.
func New(cfg Config, log *slog.Logger, uas Clients, dir Directory, reg *registrar.Registry, pool *media.PortPool, records call.RecordRepo, events core.EventLog) *B2BUA {
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []codec.Codec{codec.PCMU, codec.PCMA}
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = 60 * time.Second
	}
	return &B2BUA{cfg: cfg, log: log, uas: uas, dir: dir, registry: reg, pool: pool, records: records, events: events,
		calls: map[call.ID]*Call{}, byDialog: map[string]*Call{}}
}

func (b *B2BUA) dialogUA(transport string) *sipgo.DialogUA {
	if ua, ok := b.uas[transport]; ok {
		return ua
	}
	return b.uas["UDP"]
}

func (b *B2BUA) track(c *Call) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.calls[c.id] = c
	b.wg.Add(1)
	return true
}

func (b *B2BUA) bindDialog(id string, c *Call) {
	b.mu.Lock()
	b.byDialog[id] = c
	b.mu.Unlock()
}

func (b *B2BUA) forget(c *Call) {
	b.mu.Lock()
	if _, ok := b.calls[c.id]; ok {
		delete(b.calls, c.id)
		b.wg.Done()
	}
	for _, id := range c.dialogIDs() {
		if b.byDialog[id] == c {
			delete(b.byDialog, id)
		}
	}
	b.mu.Unlock()
}

// Calls returns a snapshot of every live call.
func (b *B2BUA) Calls() []call.Snapshot {
	b.mu.Lock()
	list := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		list = append(list, c)
	}
	b.mu.Unlock()
	out := make([]call.Snapshot, 0, len(list))
	for _, c := range list {
		out = append(out, c.Snapshot())
	}
	return out
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
	list := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		list = append(list, c)
	}
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

// lookupUAS finds the call whose A-leg a request from the caller belongs to.
func (b *B2BUA) lookupUAS(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byDialog[id]
}

// lookupUAC finds the call whose B-leg a request from the callee belongs to.
func (b *B2BUA) lookupUAC(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byDialog[id]
}

// HandleAck routes an in-dialog ACK.
func (b *B2BUA) HandleAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := b.lookupUAS(req); c != nil {
		c.mu.Lock()
		a := c.a
		c.mu.Unlock()
		if a != nil {
			_ = a.ReadAck(req, tx)
		}
	}
}

// HandleBye routes a BYE to its call: from the caller or from the callee.
func (b *B2BUA) HandleBye(req *sip.Request, tx sip.ServerTransaction) {
	if c := b.lookupUAS(req); c != nil && c.isALeg(req) {
		if err := c.aDialog().ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
			return
		}
		c.hangup(call.ByCaller, call.CauseNormal)
		return
	}
	if c := b.lookupUAC(req); c != nil && c.isBLeg(req) {
		if err := c.bDialog().ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
			return
		}
		c.hangup(call.ByCallee, call.CauseNormal)
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
}

// HandleReinvite answers an in-dialog INVITE (hold, resume, session refresh).
func (b *B2BUA) HandleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	if c := b.lookupUAS(req); c != nil && c.isALeg(req) {
		c.reinvite(req, tx, true)
		return
	}
	if c := b.lookupUAC(req); c != nil && c.isBLeg(req) {
		c.reinvite(req, tx, false)
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
}

var _ call.Control = (*B2BUA)(nil)
