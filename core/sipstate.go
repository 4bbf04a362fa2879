package core

import (
	"net/netip"
	"time"
)

// Registration is one registered contact of an extension, as the registrar holds it.
type Registration struct {
	ExtensionID  ExtensionID
	Username     string
	Contact      string
	Source       string // ip:port the phone registered from
	Transport    string
	UserAgent    string
	RegisteredAt time.Time
	ExpiresAt    time.Time
}

// Ban is a source address refused after repeated authentication failures.
type Ban struct {
	IP       netip.Addr
	Since    time.Time
	Until    time.Time
	Failures int
}

// SIPState is the live state of the SIP front that the API shows.
type SIPState interface {
	// Registrations lists live registrations, of one extension or ("") of all.
	Registrations(ext ExtensionID) []Registration
	Bans() []Ban
	Unban(ip netip.Addr) bool
	// TrunkStatus is the live state of a trunk (false when not known yet).
	TrunkStatus(id TrunkID) (TrunkStatus, bool)
	// TrunksChanged says trunk settings changed, so registrations follow at once.
	TrunksChanged()
}
