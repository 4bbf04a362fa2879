package sip

import (
	"context"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
)

// trunkFor returns the enabled IP trunk whose allowed sources include the
// request's source address, or nil.
func (s *Server) trunkFor(req *sip.Request) *core.Trunk {
	ip := sourceIP(req)
	trunks, err := s.dir.EnabledTrunks(context.Background())
	if err != nil {
		s.log.Error("read trunks", "error", err)
		return nil
	}
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
	did := req.Recipient.User
	if t.DIDSource == "to" && req.To() != nil {
		did = req.To().Address.User
	}
	var n *core.PhoneNumber
	e164, _, err := core.NormalizeNumber(did, s.cfg.Country)
	if err == nil {
		n, err = s.dir.NumberByE164(context.Background(), e164)
	}
	if err != nil || (n.TrunkID != "" && n.TrunkID != t.ID) {
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
