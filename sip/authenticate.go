package sip

import (
	"context"
	"net/netip"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
)

func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// dropBanned silently drops a request from a banned address: no response, so
// a scanner learns nothing.
func (s *Server) dropBanned(req *sip.Request, tx sip.ServerTransaction) bool {
	if !s.Guard.Banned(sourceIP(req)) {
		return false
	}
	tx.Terminate()
	return true
}

// authenticate checks a request's digest credentials. REGISTER is challenged
// with 401 (WWW-Authenticate), other requests with 407 (Proxy-Authenticate).
// It responds itself and returns nil unless the caller may go on.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction) *core.Extension {
	proxy := req.Method != sip.REGISTER
	hdr := "Authorization"
	if proxy {
		hdr = "Proxy-Authorization"
	}
	var value string
	if h := req.GetHeader(hdr); h != nil {
		value = h.Value()
	}
	ctx := context.Background()
	var ext *core.Extension
	res := s.digest.Verify(string(req.Method), value, func(user string) (string, bool) {
		e, err := s.dir.ExtensionBySIPUsername(ctx, user)
		if err != nil {
			return "", false
		}
		ext = e
		return e.SIPPassword.Reveal(), true
	})
	ip := sourceIP(req)
	switch res.Outcome {
	case auth.OK:
		s.Guard.Succeed(ip)
		if !ext.Enabled {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			return nil
		}
		return ext
	case auth.Failed:
		if s.Guard.Fail(ip) {
			s.log.Warn("sip address banned after repeated authentication failures", "ip", ip.String(), "security", true)
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			return nil
		}
		if proxy {
			// A call from a source that is neither a trunk nor an extension
			// that can authenticate: refuse it (phones retry REGISTER instead).
			s.log.Warn("call refused: authentication failed", "ip", ip.String(), "method", string(req.Method), "security", true)
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			return nil
		}
		s.challenge(req, tx, proxy, false)
	case auth.Stale:
		s.challenge(req, tx, proxy, true)
	default:
		s.challenge(req, tx, proxy, false)
	}
	return nil
}

func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, proxy, stale bool) {
	code, reason, hdr := sip.StatusUnauthorized, "Unauthorized", "WWW-Authenticate"
	if proxy {
		code, reason, hdr = sip.StatusProxyAuthRequired, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, c := range s.digest.Challenges(stale) {
		res.AppendHeader(sip.NewHeader(hdr, c))
	}
	_ = tx.Respond(res)
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	ext := s.authenticate(req, tx)
	if ext == nil {
		return
	}
	_ = tx.Respond(s.reg.Register(req, ext))
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			s.B2BUA.HandleReinvite(req, tx)
			return
		}
	}
	if t := s.trunkFor(req); t != nil {
		s.inbound(req, tx, t)
		return
	}
	ext := s.authenticate(req, tx)
	if ext == nil {
		return
	}
	s.B2BUA.HandleInvite(req, tx, ext)
}
