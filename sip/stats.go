package sip

import (
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
)

// Stats is a snapshot of the SIP front for monitoring; every counter counts
// since start.
type Stats struct {
	// Registrations is the number of live registered contacts.
	Registrations int
	Calls         b2bua.Stats
	Guard         auth.GuardStats
	// Messages count SIP messages by method and status code. Over TCP the
	// sent responses include the front's stateless answers to refused
	// requests; over UDP those are counted in Refused only.
	Messages MessageStats
	// Refused counts messages the front dropped or answered itself: from
	// banned sources, over the flood limit, or failing the screen.
	Refused uint64
	// Screened counts the refused messages that failed the screen.
	Screened uint64
	// Stateless counts the requests read over UDP that the front answered
	// itself, without a transaction (REGISTERs, the challenges of new
	// INVITEs), or absorbed (the ACKs of stateless answers to INVITEs).
	// They are among the received requests of Messages.
	Stateless uint64
	// Panics counts SIP handler panics.
	Panics uint64
}

// Stats reads the counters of the SIP front, its guard and its B2BUA.
func (s *Server) Stats() Stats {
	return Stats{
		Registrations: s.Registry.Count(),
		Calls:         s.B2BUA.Stats(),
		Guard:         s.Guard.Stats(),
		Messages:      s.front.msgs.snapshot(),
		Refused:       s.front.dropped.Load(),
		Screened:      s.front.screened.Load(),
		Stateless:     s.front.stateless.Load(),
		Panics:        s.panics.Load(),
	}
}
