package core

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TrunkID identifies a SIP trunk ("trk_...").
type TrunkID string

// PrefixTrunk is the prefix of trunk ids.
const PrefixTrunk = "trk_"

// Trunk is a connection to a carrier.
type Trunk struct {
	ID              TrunkID
	Name            string
	Host            string
	Port            int
	Transport       string // udp or tcp
	AuthMode        string // register or ip
	Username        string
	Password        Secret
	Realm           string
	RegisterExpires int
	AllowedCIDRs    []string // ip mode: sources accepted for inbound calls
	OutboundProxy   string
	FromUser        string
	FromDomain      string
	DIDSource       string   // request_uri or to
	Codecs          []string // ordered subset of PCMU, PCMA
	MaxChannels     int      // 0: no limit
	Enabled         bool
	Version         int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// TrunkRepo stores trunks.
type TrunkRepo interface {
	CreateTrunk(ctx context.Context, t *Trunk) error
	GetTrunk(ctx context.Context, id TrunkID) (*Trunk, error)
	ListTrunks(ctx context.Context, p PageRequest) (Page[*Trunk], error)
	UpdateTrunk(ctx context.Context, t *Trunk, expectVersion int64) error
	// DeleteTrunk refuses (a ConflictError) while numbers use the trunk.
	DeleteTrunk(ctx context.Context, id TrunkID) error
	// EnabledTrunks lists every enabled trunk, for matching inbound sources.
	EnabledTrunks(ctx context.Context) ([]*Trunk, error)
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// Validate checks a trunk and fills defaults.
func (t *Trunk) Validate() error {
	var v ValidationError
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" || len(t.Name) > 100 || hasControl(t.Name) {
		v.Add("name", "must be 1 to 100 printable characters", t.Name)
	}
	if !hostRE.MatchString(t.Host) {
		v.Add("host", "must be a host name or IP address", t.Host)
	}
	if t.Port == 0 {
		t.Port = 5060
	}
	if t.Port < 1 || t.Port > 65535 {
		v.Add("port", "must be 1 to 65535", t.Port)
	}
	if t.Transport == "" {
		t.Transport = "udp"
	}
	if t.Transport != "udp" && t.Transport != "tcp" {
		v.Add("transport", "must be udp or tcp", t.Transport)
	}
	switch t.AuthMode {
	case "register":
		if t.Username == "" || strings.ContainsAny(t.Username, " \r\n\"") {
			v.Add("username", "is required for a register trunk", t.Username)
		}
		if t.Password == "" {
			v.Add("password", "is required for a register trunk", nil)
		}
		if t.RegisterExpires == 0 {
			t.RegisterExpires = 3600
		}
		if t.RegisterExpires < 60 || t.RegisterExpires > 86400 {
			v.Add("register_expires", "must be 60 to 86400", t.RegisterExpires)
		}
	case "ip":
		if len(t.AllowedCIDRs) == 0 {
			v.Add("allowed_cidrs", "an ip trunk needs at least one source CIDR", nil)
		}
		for _, c := range t.AllowedCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				v.Add("allowed_cidrs", "must be CIDRs such as 203.0.113.0/24", c)
			}
		}
	default:
		v.Add("auth_mode", "must be register or ip", t.AuthMode)
	}
	if t.DIDSource == "" {
		t.DIDSource = "request_uri"
	}
	if t.DIDSource != "request_uri" && t.DIDSource != "to" {
		v.Add("did_source", "must be request_uri or to", t.DIDSource)
	}
	if len(t.Codecs) == 0 {
		t.Codecs = []string{"PCMU", "PCMA"}
	}
	for i, c := range t.Codecs {
		if c != "PCMU" && c != "PCMA" || slices.Index(t.Codecs, c) != i {
			v.Add("codecs", "must be an ordered subset of PCMU, PCMA", t.Codecs)
			break
		}
	}
	if t.MaxChannels < 0 {
		v.Add("max_channels", "must be 0 (no limit) or more", t.MaxChannels)
	}
	for f, s := range map[string]string{"from_user": t.FromUser, "from_domain": t.FromDomain, "outbound_proxy": t.OutboundProxy, "realm": t.Realm} {
		if strings.ContainsAny(s, " \r\n\"<>") {
			v.Add(f, "must not contain spaces, quotes or angle brackets", s)
		}
	}
	return v.Err()
}

// HostPort is the trunk's host and port, as written in request URIs.
func (t *Trunk) HostPort() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// Destination is where requests to the trunk are sent: the outbound proxy
// (port 5060 unless it names one) when set, else HostPort.
func (t *Trunk) Destination() string {
	if t.OutboundProxy == "" {
		return t.HostPort()
	}
	if _, _, err := net.SplitHostPort(t.OutboundProxy); err == nil {
		return t.OutboundProxy
	}
	return net.JoinHostPort(t.OutboundProxy, "5060")
}

// PeerHost is the host the carrier's requests come from: the outbound proxy's, else Host.
func (t *Trunk) PeerHost() string {
	host, _, err := net.SplitHostPort(t.Destination())
	if err != nil {
		return t.Host
	}
	return host
}

// FromHost is the host of the From URI of calls sent to the trunk.
func (t *Trunk) FromHost() string {
	if t.FromDomain != "" {
		return t.FromDomain
	}
	return t.Host
}

// FromUserOr is the user part of the From URI of requests sent to the trunk:
// from_user when set, else def. Carriers that check From user = auth user
// get it from from_user.
func (t *Trunk) FromUserOr(def string) string {
	if t.FromUser != "" {
		return t.FromUser
	}
	return def
}

// ChallengeMatches reports whether a digest challenge for realm is one the
// trunk answers: any realm when the trunk names none, else that realm only
// (RFC 3261 §22.2: credentials are chosen by realm).
func (t *Trunk) ChallengeMatches(realm string) bool {
	return t.Realm == "" || t.Realm == realm
}

// Accepts reports whether an inbound request from ip belongs to this ip trunk.
func (t *Trunk) Accepts(ip netip.Addr) bool {
	if !t.Enabled || t.AuthMode != "ip" {
		return false
	}
	for _, c := range t.AllowedCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// TrunkStatus is the live state of a trunk.
type TrunkStatus struct {
	TrunkID         TrunkID
	Registration    string // registered, registering, failed, not_applicable
	LastError       string
	LastErrorCode   int // the SIP status of the last failure, 0 for none or no answer
	LastErrorAt     *time.Time
	RegisteredUntil *time.Time
	LastOptionsRTT  time.Duration
	LastOptionsAt   *time.Time
	Reachable       bool
	ActiveChannels  int
}
