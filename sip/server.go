// Package sip is Dialtone's SIP front: UDP and TCP listeners, digest
// authentication of phones, the registrar and the B2BUA, on sipgo.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// Config of the SIP front.
type Config struct {
	Listen       string     // host:port for UDP and TCP
	Domain       string     // SIP domain and digest realm
	Advertise    netip.Addr // address put in Via, Contact and SDP; derived from Listen when unset
	RTPMin       int
	RTPMax       int
	MediaTimeout time.Duration
	NonceTTL     time.Duration
	Algorithms   []string // digest algorithms offered, in order; default MD5, SHA-256
	Guard        auth.GuardConfig
	Flood        FloodConfig // per-source limit of unauthenticated traffic
	TCP          TCPLimits
	Limits       registrar.Limits
	UserAgent    string
	Trunks       TrunkTiming
	Country      string   // home country for reading and classifying numbers
	Emergency    []string // emergency numbers, always allowed
	// MinSE and SessionExpires are the session timer settings (RFC 4028);
	// zero takes the B2BUA's defaults (90 s, 1800 s).
	MinSE          time.Duration
	SessionExpires time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("sip address %q: %w", c.Listen, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("sip address %q: bad port", c.Listen)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("sip address %q: host must be an IP address", c.Listen)
		}
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "\r\n\" ") {
		return fmt.Errorf("sip domain %q is not usable", c.Domain)
	}
	for _, a := range c.Algorithms {
		if !auth.ValidAlgorithm(a) {
			return fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", a)
		}
	}
	if c.RTPMin < 1024 || c.RTPMax > 65535 || c.RTPMin >= c.RTPMax {
		return fmt.Errorf("rtp port range %d-%d is not usable", c.RTPMin, c.RTPMax)
	}
	return nil
}

// Directory is what the SIP front reads about extensions.
type Directory interface {
	ExtensionBySIPUsername(ctx context.Context, username string) (*core.Extension, error)
	ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error)
	GetExtension(ctx context.Context, id core.ExtensionID) (*core.Extension, error)
	// EachExtension calls fn with every extension, in one pass.
	EachExtension(ctx context.Context, fn func(*core.Extension) error) error
	EnabledTrunks(ctx context.Context) ([]*core.Trunk, error)
	NumberByE164(ctx context.Context, e164 string) (*core.PhoneNumber, error)
	FirstNumberOfTrunk(ctx context.Context, id core.TrunkID) (*core.PhoneNumber, error)
	OnlyNumberOfTrunk(ctx context.Context, id core.TrunkID) (*core.PhoneNumber, error)
	GetTrunk(ctx context.Context, id core.TrunkID) (*core.Trunk, error)
	ListOutboundRoutes(ctx context.Context) ([]*core.OutboundRoute, error)
}

// Server is the running SIP front.
type Server struct {
	cfg      Config
	log      *slog.Logger
	dir      Directory
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	udp      net.PacketConn
	tcp      net.Listener
	digest   *auth.Digest
	users    *auth.Users // credentials by SIP user name (authenticate.go)
	Guard    *auth.Guard
	Registry *registrar.Registry
	reg      *registrar.Registrar
	B2BUA    *b2bua.B2BUA
	Pool     *media.PortPool
	cancel   context.CancelFunc
	done     chan struct{}
	events   core.EventLog
	trunks   *trunkKeeper
	// trunkChanged wakes the trunk keeper after a trunk changed over the API.
	trunkChanged chan struct{}
	trunkCache   trunkCache
	front        *front
	tcpFront     *screenedListener
	serving      atomic.Bool // set once Serve has started both listeners
	udpDown      atomic.Bool
	panics       atomic.Uint64
	// registering are the UDP REGISTERs being finished aside (registerinline.go).
	registering registering
	// handedOn are the new INVITEs the UDP front handed to sipgo (inviteinline.go).
	handedOn recentKeys

	// state keeps registrations, bans and the allow-list in the store (Restore).
	state persistence
}

// Listen binds the SIP sockets and prepares every component; Serve runs them.
// Events of calls, registrations and bans go to events.
func Listen(cfg Config, log *slog.Logger, dir Directory, records call.RecordRepo, events core.EventLog) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = 5 * time.Minute
	}
	if cfg.Guard.MaxFailures == 0 {
		cfg.Guard = auth.DefaultGuardConfig()
	}
	if cfg.Limits.MaxExpires == 0 {
		cfg.Limits = registrar.DefaultLimits()
	}
	if cfg.Flood.Rate == 0 {
		cfg.Flood = DefaultFloodConfig()
	}
	if cfg.TCP.MaxConns == 0 {
		cfg.TCP = DefaultTCPLimits()
		cfg.TCP.IdleTimeout = cfg.Limits.MaxExpires + 5*time.Minute
	}
	if cfg.TCP.MaxMessage <= 0 || cfg.TCP.MaxMessage > maxSIPMessage {
		cfg.TCP.MaxMessage = maxSIPMessage
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Dialtone"
	}
	udp, tcp, err := listenBoth(cfg.Listen)
	if err != nil {
		return nil, err
	}
	laddr := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	if !cfg.Advertise.IsValid() {
		cfg.Advertise = advertiseAddr(laddr.Addr())
	}
	bind := laddr.Addr()
	pool, err := media.NewPortPool(bind, cfg.RTPMin, cfg.RTPMax)
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, dir: dir, udp: udp, tcp: tcp, Pool: pool, done: make(chan struct{}), events: events,
		trunkChanged: make(chan struct{}, 1)}
	s.trunks = newTrunkKeeper(s, cfg.Trunks)
	if err := s.build(laddr, records, events); err != nil {
		udp.Close()
		tcp.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build(laddr netip.AddrPort, records call.RecordRepo, events core.EventLog) error {
	// sipgo logs through slog; keep its chatter below our warnings.
	quiet := s.log.With("component", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.UserAgent), sipgo.WithUserAgentHostname(s.cfg.Advertise.String()),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			// Stray responses (retransmissions, floods) are dropped without a log
			// line each; a 2xx a dialog still needs is acknowledged again.
			sip.WithTransactionLayerUnhandledResponseHandler(s.strayResponse)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)))
	if err != nil {
		return err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return err
	}
	port := int(laddr.Port())
	host := s.cfg.Advertise.String()
	// One client per transport; UDP requests leave from the listening socket.
	udpClient, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(s.udp.LocalAddr().String()), sipgo.WithClientLogger(quiet))
	if err != nil {
		return err
	}
	// TCP connections the PBX opens leave from its SIP address (carriers
	// authorise trunks by source IP) on an ephemeral port: with port 0 sipgo
	// binds the dialer to the address only and still reuses connections by
	// remote address, so requests never land on another peer's connection.
	tcpOpts := []sipgo.ClientOption{sipgo.WithClientHostname(host), sipgo.WithClientPort(port), sipgo.WithClientLogger(quiet)}
	if ip := laddr.Addr(); !ip.IsUnspecified() {
		tcpOpts = append(tcpOpts, sipgo.WithClientConnectionAddr(netip.AddrPortFrom(ip, 0).String()))
	}
	tcpClient, err := sipgo.NewClient(ua, tcpOpts...)
	if err != nil {
		return err
	}
	contact := func(transport string) sip.ContactHeader {
		u := sip.Uri{Scheme: "sip", User: "dialtone", Host: host, Port: port}
		if transport == "TCP" {
			u.UriParams = sip.NewParams()
			u.UriParams.Add("transport", "tcp")
		}
		return sip.ContactHeader{Address: u}
	}
	s.ua, s.srv = ua, srv
	s.digest = auth.NewDigest(s.cfg.Domain, s.cfg.Algorithms, s.cfg.NonceTTL, nil)
	s.users = auth.NewUsers(s.cfg.Domain, s.dir.ExtensionBySIPUsername, s.dir.ExtensionByNumber, nil)
	s.Guard = auth.NewGuard(s.cfg.Guard, nil)
	s.front = newFront(s.log.With("component", "sip-front"), s.Guard, s.cfg.Flood)
	s.Registry = registrar.NewRegistry(5, nil)
	s.reg = &registrar.Registrar{Registry: s.Registry, Limits: s.cfg.Limits}
	s.B2BUA = b2bua.New(b2bua.Config{Domain: s.cfg.Domain, Advertise: s.cfg.Advertise, MediaTimeout: s.cfg.MediaTimeout,
		Country: s.cfg.Country, Emergency: s.cfg.Emergency, MinSE: s.cfg.MinSE, SessionExpires: s.cfg.SessionExpires},
		s.log.With("component", "b2bua"),
		b2bua.Clients{
			"UDP": {Client: udpClient, ContactHDR: contact("UDP"), RewriteContact: true},
			"TCP": {Client: tcpClient, ContactHDR: contact("TCP"), RewriteContact: true},
		}, s.dir, s.Registry, s.Pool, records, events)
	s.B2BUA.TrunkAuthFailedHook = s.trunks.authFailed
	s.publishState()

	srv.OnRegister(s.guarded(s.onRegister))
	srv.OnInvite(s.guarded(s.onInvite))
	srv.OnAck(s.guarded(s.B2BUA.HandleAck))
	srv.OnBye(s.guarded(s.B2BUA.HandleBye))
	srv.OnInfo(s.guarded(s.B2BUA.HandleInfo)) // DTMF within calls (RFC 6086)
	srv.OnCancel(s.guarded(s.onCancel))
	srv.OnOptions(s.guarded(s.onOptions))
	srv.OnUpdate(s.guarded(s.B2BUA.HandleUpdate)) // session refresh and offers within calls (RFC 3311)
	srv.OnNoRoute(s.guarded(s.onUnknownMethod))
	return nil
}

// listenBoth binds UDP and TCP on the same address and port. With port 0 the
// UDP port is chosen first and TCP follows it; if another program holds that
// TCP port, another pair is tried.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen for sip on udp %s: %w", addr, errors.Unwrap(err))
		}
		if uc, ok := udp.(*net.UDPConn); ok {
			// Bursts (a flood being throttled, many phones at once) must not
			// overflow the default buffer and lose good packets with them.
			_ = uc.SetReadBuffer(4 << 20)
		}
		laddr := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp, err := net.Listen("tcp", laddr.String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || attempt == 20 {
			return nil, nil, fmt.Errorf("listen for sip on tcp %s: %w", laddr, errors.Unwrap(err))
		}
	}
}

// advertiseAddr picks the address to put in SIP and SDP when listening on
// a wildcard address: the one the host uses to reach the outside.
func advertiseAddr(bind netip.Addr) netip.Addr {
	if !bind.IsUnspecified() {
		return bind
	}
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil { // no packet is sent
		defer c.Close()
		if a, ok := netip.AddrFromSlice(c.LocalAddr().(*net.UDPAddr).IP); ok {
			return a.Unmap()
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// Addr is the bound UDP (and TCP) address.
func (s *Server) Addr() netip.AddrPort { return s.udp.LocalAddr().(*net.UDPAddr).AddrPort() }

// Domain is the SIP domain and realm.
func (s *Server) Domain() string { return s.cfg.Domain }

// Serve runs until ctx ends; it also sweeps expired registrations.
func (s *Server) Serve(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	udp := &screenedPacketConn{PacketConn: s.udp, front: s.front, answer: s.answerUDP}
	go func() {
		err := s.srv.ServeUDP(udp)
		s.udpDown.Store(true)
		if ctx.Err() == nil {
			s.log.Error("sip udp listener stopped", "error", err)
		}
	}()
	waitUDPReady(s.ua, udp)
	s.tcpFront = newScreenedListener(s.tcp, s.front, s.cfg.TCP, s.log.With("component", "sip-front"))
	go s.trunks.run(ctx)
	go func() { _ = s.srv.ServeTCP(s.tcpFront) }()
	s.serving.Store(true)
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Registry.Sweep()
				s.front.flood.sweep()
			}
		}
	}()
	s.log.Info("sip listening", "udp", s.udp.LocalAddr().String(), "tcp", s.tcp.Addr().String(),
		"advertise", s.cfg.Advertise.String(), "domain", s.cfg.Domain)
}

// Shutdown hangs up live calls (bounded by ctx) and closes the sockets.
func (s *Server) Shutdown(ctx context.Context) {
	s.B2BUA.Shutdown(ctx)
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	s.closeState(ctx)
	_ = s.srv.Close()
	_ = s.udp.Close()
	if s.tcpFront != nil {
		_ = s.tcpFront.Close()
	}
	_ = s.tcp.Close()
	_ = s.ua.Close()
}
