package sip

import (
	"net/netip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

var _ core.SIPState = (*Server)(nil)

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
			Transport: b.Transport, UserAgent: b.UserAgent, RegisteredAt: b.RegisteredAt, ExpiresAt: b.ExpiresAt,
		}
	}
	return out
}

// Bans lists banned addresses.
func (s *Server) Bans() []core.Ban {
	list := s.Guard.Bans()
	out := make([]core.Ban, len(list))
	for i, b := range list {
		out[i] = core.Ban{IP: b.IP, Since: b.Since, Until: b.Until, Failures: b.Failures}
	}
	return out
}

// Unban lifts a ban.
func (s *Server) Unban(ip netip.Addr) bool { return s.Guard.Unban(ip) }
