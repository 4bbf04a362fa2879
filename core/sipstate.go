package core

import (
	"context"
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
	CallID       string // Call-ID and CSeq of the last REGISTER, to spot retransmissions
	CSeq         uint32
	RegisteredAt time.Time
	ExpiresAt    time.Time
}

// RegistrationKey names one binding: an extension's contact URI.
type RegistrationKey struct {
	ExtensionID ExtensionID
	Contact     string
}

// Ban is a source address refused after repeated authentication failures or a flood.
type Ban struct {
	IP       netip.Addr
	Since    time.Time
	Until    time.Time
	Failures int
	Reason   string // auth_failures or flood
}

// SIPState is the live state of the SIP front that the API shows.
type SIPState interface {
	// Registrations lists live registrations, of one extension or ("") of all.
	Registrations(ext ExtensionID) []Registration
	Bans() []Ban
	// Unban lifts a ban, in memory and in the store, and reports whether there was one.
	Unban(ctx context.Context, ip netip.Addr) (bool, error)
	// AllowlistChanged says the API allow-list changed, so it applies at once.
	AllowlistChanged(ctx context.Context) error
	// TrunkStatus is the live state of a trunk (false when not known yet).
	TrunkStatus(id TrunkID) (TrunkStatus, bool)
	// TrunksChanged says trunk settings changed, so registrations follow at once.
	TrunksChanged()
	// Ready reports an error while a SIP listener is down.
	Ready() error
}

// RegistrationRepo keeps registrations across restarts.
type RegistrationRepo interface {
	// LoadRegistrations returns the bindings still live at now and forgets expired ones.
	LoadRegistrations(ctx context.Context, now time.Time) ([]Registration, error)
	// SaveRegistrations writes upserts and removes the bindings named by
	// removals, all in one transaction.
	SaveRegistrations(ctx context.Context, upserts []Registration, removals []RegistrationKey) error
}

// BanRepo keeps bans across restarts.
type BanRepo interface {
	// LoadBans returns the bans still in force at now and forgets the others.
	LoadBans(ctx context.Context, now time.Time) ([]Ban, error)
	// SaveBans writes bans and lifts the bans of lifted, in one transaction.
	SaveBans(ctx context.Context, bans []Ban, lifted []netip.Addr) error
}
