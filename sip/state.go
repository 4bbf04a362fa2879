package sip

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

var _ core.SIPState = (*Server)(nil)

// StateStore keeps the SIP front's state across restarts: registrations,
// bans and the networks an administrator allowed.
type StateStore interface {
	core.RegistrationRepo
	core.BanRepo
	AllowlistNetworks(ctx context.Context) ([]netip.Prefix, error)
}

// Allow-list origins in the guard: each replaces only its own networks.
const (
	allowAPI    = "api"
	allowTrunks = "trunks"
)

// persistence is the server's link to its StateStore, set by Restore.
type persistence struct {
	store   StateStore
	allowMu sync.Mutex // one allow-list reload at a time, so the last read wins
}

// Restore loads the state saved by a previous run (allowed networks, live
// registrations, bans in force) and keeps it saved from then on. Call it
// once, after Listen and before Serve.
func (s *Server) Restore(ctx context.Context, st StateStore) error {
	s.state.store = st
	if err := s.AllowlistChanged(ctx); err != nil {
		return err
	}
	trunks, err := s.dir.EnabledTrunks(ctx)
	if err != nil {
		return fmt.Errorf("read trunks: %w", err)
	}
	s.Guard.SetAllowed(allowTrunks, trunkNets(trunks, nil))
	regs, err := s.Registry.Restore(ctx, st, registrar.PersistConfig{}, s.log.With("component", "registrar"))
	if err != nil {
		return err
	}
	bans, err := s.Guard.Restore(ctx, st, s.log.With("component", "guard"))
	if err != nil {
		return err
	}
	if regs > 0 || bans > 0 {
		s.log.Info("sip state restored", "registrations", regs, "bans", bans)
	}
	return nil
}

// closeState writes what is pending to the store; it takes a few seconds
// more even when shutting down calls used up ctx.
func (s *Server) closeState(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.Registry.Close(ctx)
	s.Guard.Close(ctx)
}

// AllowlistChanged reads the API allow-list again and applies it: addresses
// in it are never banned, and existing bans on them are lifted.
func (s *Server) AllowlistChanged(ctx context.Context) error {
	if s.state.store == nil {
		return nil
	}
	s.state.allowMu.Lock()
	defer s.state.allowMu.Unlock()
	nets, err := s.state.store.AllowlistNetworks(ctx)
	if err != nil {
		return fmt.Errorf("reload allow-list: %w", err)
	}
	s.Guard.SetAllowed(allowAPI, nets)
	return s.Guard.Flush(ctx)
}

// Registrations lists live registrations of ext, or of everyone when ext is "".
func (s *Server) Registrations(ext core.ExtensionID) []core.Registration {
	var list []registrar.Binding
	if ext == "" {
		list = s.Registry.All()
	} else {
		list = s.Registry.Lookup(ext)
	}
	out := make([]core.Registration, len(list))
	for i, b := range list {
		out[i] = core.Registration{
			ExtensionID: b.ExtensionID, Username: b.Username, Contact: b.Contact, Source: b.Source,
			Transport: b.Transport, UserAgent: b.UserAgent, CallID: b.CallID, CSeq: b.CSeq,
			RegisteredAt: b.RegisteredAt, ExpiresAt: b.ExpiresAt,
		}
	}
	return out
}

// Bans lists banned addresses.
func (s *Server) Bans() []core.Ban {
	list := s.Guard.Bans()
	out := make([]core.Ban, len(list))
	for i, b := range list {
		out[i] = core.Ban{IP: b.IP, Since: b.Since, Until: b.Until, Failures: b.Failures, Reason: b.Reason}
	}
	return out
}

// Unban lifts a ban and waits until the store has forgotten it.
func (s *Server) Unban(ctx context.Context, ip netip.Addr) (bool, error) {
	ok := s.Guard.Unban(ip)
	if !ok {
		return false, nil
	}
	if err := s.Guard.Flush(ctx); err != nil {
		return true, fmt.Errorf("lift ban on %s: %w", ip, err)
	}
	return true, nil
}
