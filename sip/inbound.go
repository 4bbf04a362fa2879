package sip

import (
	"context"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
)

// trunkFor returns the enabled IP trunk whose allowed sources include the
// request's source address, or nil.
func (s *Server) trunkFor(req *sip.Request) *core.Trunk {
	ip := sourceIP(req)
	trunks, err := s.enabledTrunks(context.Background())
	if err != nil {
		s.log.Error("read trunks", "error", err)
		return nil
	}
	return s.trunkAmong(trunks, ip)
}

// trunkAmong is the trunk of trunks (the enabled ones) that calls from ip
// come from, or nil.
func (s *Server) trunkAmong(trunks []*core.Trunk, ip netip.Addr) *core.Trunk {
	for _, t := range trunks {
		if t.Accepts(ip) {
			return t
		}
	}
	// A register trunk's calls come from the carrier it registers with.
	return s.trunks.peer(ip)
}

// inbound routes a call from a trunk by the number it was sent to.
func (s *Server) inbound(req *sip.Request, tx sip.ServerTransaction, t *core.Trunk) {
	n, did := s.inboundNumber(req, t)
	if n == nil {
		s.log.Info("inbound call to an unknown number", "trunk", t.ID, "number", did)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotFound, "Not Found", nil))
		return
	}
	in := b2bua.Inbound{Trunk: t, Number: n, FromNumber: "anonymous"}
	if f := req.From(); f != nil && !anonymous(req) {
		in.FromNumber, in.FromName = f.Address.User, f.DisplayName // dial() makes it header-safe
		if e, _, err := core.NormalizeNumber(f.Address.User, s.cfg.Country); err == nil {
			in.FromNumber = e
		}
	}
	s.B2BUA.HandleInbound(req, tx, in)
}

// inboundNumber finds the number an inbound call from a trunk is for, and
// the user part it was looked up by. With did_source "to" only the To user
// counts. Otherwise the Request-URI user does, except when it is the
// register trunk's own user: a carrier sends calls to the Contact the trunk
// registered (sip:user@pbx, RFC 3261 §10.2.1), so the number is in To, or
// is the trunk's only number.
func (s *Server) inboundNumber(req *sip.Request, t *core.Trunk) (*core.PhoneNumber, string) {
	ctx := context.Background()
	lookup := func(user string) *core.PhoneNumber {
		e164, _, err := core.NormalizeNumber(user, s.cfg.Country)
		if err != nil {
			return nil
		}
		n, err := s.dir.NumberByE164(ctx, e164)
		if err != nil || (n.TrunkID != "" && n.TrunkID != t.ID) {
			return nil
		}
		return n
	}
	var to string
	if h := req.To(); h != nil {
		to = h.Address.User
	}
	if t.DIDSource == "to" {
		return lookup(to), to
	}
	did := req.Recipient.User
	if t.AuthMode != "register" || (did != "" && did != t.Username) {
		return lookup(did), did
	}
	if n := lookup(to); n != nil {
		return n, to
	}
	if n, err := s.dir.OnlyNumberOfTrunk(ctx, t.ID); err == nil {
		return n, did
	}
	return nil, did
}

// anonymous reports whether the caller withheld its identity (RFC 3323).
func anonymous(req *sip.Request) bool {
	if f := req.From(); f != nil && strings.EqualFold(f.Address.User, "anonymous") {
		return true
	}
	if h := req.GetHeader("Privacy"); h != nil {
		for _, p := range strings.Split(h.Value(), ";") {
			if v := strings.TrimSpace(strings.ToLower(p)); v == "id" || v == "user" {
				return true
			}
		}
	}
	return false
}
