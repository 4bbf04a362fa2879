package core

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// AllowlistID identifies an allow-list entry ("alw_...").
type AllowlistID string

// PrefixAllowlist is the prefix of allow-list entry ids.
const PrefixAllowlist = "alw_"

// AllowlistEntry is a network whose addresses are never banned.
type AllowlistEntry struct {
	ID          AllowlistID
	Network     netip.Prefix
	Description string
	CreatedAt   time.Time
}

// ParseNetwork reads a CIDR such as 192.0.2.0/24 or 2001:db8::/32; a bare
// address means that address alone (/32 or /128). Host bits are cleared, so
// 192.0.2.7/24 reads as 192.0.2.0/24.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, &FieldError{Field: "cidr", Message: "must be an IP address or a CIDR such as 192.0.2.0/24", Value: s}
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, &FieldError{Field: "cidr", Message: "must be an IP address or a CIDR such as 192.0.2.0/24", Value: s}
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Validate checks an entry before it is stored.
func (e *AllowlistEntry) Validate() error {
	var v ValidationError
	if !e.Network.IsValid() {
		v.Add("cidr", "must be an IP address or a CIDR such as 192.0.2.0/24", e.Network.String())
	}
	if len(e.Description) > 200 {
		v.Add("description", "must be at most 200 characters", len(e.Description))
	}
	return v.Err()
}

// AllowlistRepo stores the networks an administrator allowed.
type AllowlistRepo interface {
	// CreateAllowlistEntry stores e; a network already listed is a ConflictError on cidr.
	CreateAllowlistEntry(ctx context.Context, e *AllowlistEntry) error
	DeleteAllowlistEntry(ctx context.Context, id AllowlistID) error
	ListAllowlist(ctx context.Context, p PageRequest) (Page[*AllowlistEntry], error)
	// AllowlistNetworks returns every allowed network.
	AllowlistNetworks(ctx context.Context) ([]netip.Prefix, error)
}
