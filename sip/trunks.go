package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
)

// TrunkTiming sets how trunks are kept: how often trunk settings are read
// again and trunks qualified with OPTIONS, and the first retry delay after a
// failed registration (doubling up to 5 minutes).
type TrunkTiming struct {
	Reload     time.Duration
	RetryFirst time.Duration
}

func (t TrunkTiming) withDefaults() TrunkTiming {
	if t.Reload == 0 {
		t.Reload = 30 * time.Second
	}
	if t.RetryFirst == 0 {
		t.RetryFirst = 30 * time.Second
	}
	return t
}

// trunkKeeper registers register-mode trunks, qualifies every trunk with
// OPTIONS and keeps their status.
type trunkKeeper struct {
	s      *Server
	timing TrunkTiming

	mu     sync.Mutex
	status map[core.TrunkID]*core.TrunkStatus
	regs   map[core.TrunkID]*trunkReg
	// peers are the addresses register trunks' carriers call from, resolved
	// when trunks are read, so no name is looked up while a call waits.
	peers map[netip.Addr]*core.Trunk
}

type trunkReg struct {
	version int64
	cancel  context.CancelFunc
}

func newTrunkKeeper(s *Server, timing TrunkTiming) *trunkKeeper {
	return &trunkKeeper{s: s, timing: timing.withDefaults(), status: map[core.TrunkID]*core.TrunkStatus{}, regs: map[core.TrunkID]*trunkReg{}}
}

// run reloads trunks until ctx ends: a changed trunk (new version) is registered again at once.
func (k *trunkKeeper) run(ctx context.Context) {
	t := time.NewTicker(k.timing.Reload)
	defer t.Stop()
	for {
		k.sync(ctx)
		select {
		case <-ctx.Done():
			k.mu.Lock()
			for _, r := range k.regs {
				r.cancel()
			}
			k.mu.Unlock()
			return
		case <-t.C:
		case <-k.s.trunkChanged:
		}
	}
}

func (k *trunkKeeper) sync(ctx context.Context) {
	trunks, err := k.s.enabledTrunks(ctx)
	if err != nil {
		return
	}
	seen := map[core.TrunkID]bool{}
	peers := map[netip.Addr]*core.Trunk{}
	for _, t := range trunks {
		if t.AuthMode == "register" {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", t.PeerHost())
			cancel()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				peers[a.Unmap()] = t
			}
		}
	}
	k.mu.Lock()
	k.peers = peers
	k.mu.Unlock()
	k.s.Guard.SetAllowed(allowTrunks, trunkNets(trunks, peers))
	for _, t := range trunks {
		seen[t.ID] = true
		go k.qualify(ctx, t)
		if t.AuthMode != "register" {
			k.set(t.ID, func(st *core.TrunkStatus) { st.Registration = "not_applicable" })
			continue
		}
		k.mu.Lock()
		r, ok := k.regs[t.ID]
		if ok && r.version == t.Version {
			k.mu.Unlock()
			continue
		}
		if ok {
			r.cancel()
		}
		rctx, cancel := context.WithCancel(ctx)
		k.regs[t.ID] = &trunkReg{version: t.Version, cancel: cancel}
		k.mu.Unlock()
		go k.register(rctx, t)
	}
	k.mu.Lock()
	for id, r := range k.regs {
		if !seen[id] {
			r.cancel()
			delete(k.regs, id)
			delete(k.status, id)
		}
	}
	k.mu.Unlock()
}

// trunkNets are the networks trunks call from, which the guard never bans:
// the allowed CIDRs of IP trunks and the resolved carriers of register trunks.
func trunkNets(trunks []*core.Trunk, peers map[netip.Addr]*core.Trunk) []netip.Prefix {
	var nets []netip.Prefix
	for _, t := range trunks {
		if !t.Enabled || t.AuthMode != "ip" {
			continue
		}
		for _, c := range t.AllowedCIDRs {
			if p, err := core.ParseNetwork(c); err == nil {
				nets = append(nets, p)
			}
		}
	}
	for a := range peers {
		nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
	}
	return nets
}

func (k *trunkKeeper) set(id core.TrunkID, f func(*core.TrunkStatus)) {
	k.mu.Lock()
	st, ok := k.status[id]
	if !ok {
		st = &core.TrunkStatus{TrunkID: id}
		k.status[id] = st
	}
	before := st.Registration
	f(st)
	after, reason := st.Registration, st.LastError
	k.mu.Unlock()
	if before != after {
		k.s.publish(core.NewEvent(core.EventTrunkStatusChanged, time.Now(), "trunk:"+string(id), nil,
			core.TrunkStatusData{TrunkID: string(id), Status: after, Reason: reason}))
	}
}

// authFailed records a carrier refusing a trunk's credentials on a call.
func (k *trunkKeeper) authFailed(id core.TrunkID, status int) {
	now := time.Now()
	k.set(id, func(st *core.TrunkStatus) {
		st.LastError = b2bua.CauseTrunkAuthFailed + ": the carrier refused the credentials of a call"
		st.LastErrorCode, st.LastErrorAt = status, &now
	})
}

// peer returns the register trunk whose carrier calls from ip, or nil.
func (k *trunkKeeper) peer(ip netip.Addr) *core.Trunk {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.peers[ip.Unmap()]
}

func (k *trunkKeeper) get(id core.TrunkID) (core.TrunkStatus, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.status[id]
	if !ok {
		return core.TrunkStatus{}, false
	}
	return *st, true
}

func (k *trunkKeeper) client(t *core.Trunk) *sipgo.Client {
	if strings.EqualFold(t.Transport, "tcp") {
		return k.s.B2BUA.Client("TCP")
	}
	return k.s.B2BUA.Client("UDP")
}

// register keeps one trunk registered: refresh before expiry, back off on failure.
func (k *trunkKeeper) register(ctx context.Context, t *core.Trunk) {
	retry := k.timing.RetryFirst
	for {
		k.set(t.ID, func(st *core.TrunkStatus) {
			if st.Registration != "registered" {
				st.Registration = "registering"
			}
		})
		granted, code, err := k.registerOnce(ctx, t)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err == nil {
			retry = k.timing.RetryFirst
			until := time.Now().Add(granted)
			k.set(t.ID, func(st *core.TrunkStatus) {
				st.Registration, st.RegisteredUntil, st.LastError, st.LastErrorCode = "registered", &until, "", 0
			})
			wait = granted * 8 / 10
		} else {
			now := time.Now()
			k.set(t.ID, func(st *core.TrunkStatus) {
				st.Registration, st.LastError, st.LastErrorCode, st.LastErrorAt = "failed", err.Error(), code, &now
			})
			k.s.log.Warn("trunk registration failed", "trunk", t.ID, "status", code, "error", err, "retry_in", retry)
			wait = retry
			retry = min(retry*2, 5*time.Minute)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (k *trunkKeeper) registerOnce(ctx context.Context, t *core.Trunk) (time.Duration, int, error) {
	// RFC 3261 §10.2: From and To carry the address of record, here the
	// trunk's From user (default the auth user) at its From domain, so a
	// carrier that checks From user = auth user accepts it.
	aor := sip.Uri{Scheme: "sip", User: t.FromUserOr(t.Username), Host: t.FromHost()}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: t.Host, Port: t.Port})
	req.SetDestination(t.Destination())
	req.SetTransport(strings.ToUpper(t.Transport))
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: trunkContact(t, k.s.cfg.Advertise.String(), int(k.s.Addr().Port()))})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(t.RegisterExpires)))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := k.client(t)
	res, err := c.Do(rctx, req)
	if err != nil {
		return 0, 0, fmt.Errorf("no answer: %w", err)
	}
	// A challenge is answered once per nonce; a second one, or a 403, is
	// the carrier refusing the credentials and ends this attempt.
	ta := &b2bua.TrunkAuth{Realm: t.Realm, HasPassword: t.Password != ""}
	for range 3 {
		if err := ta.Check(res); err != nil {
			return 0, res.StatusCode, err
		}
		if res.StatusCode != sip.StatusUnauthorized && res.StatusCode != sip.StatusProxyAuthRequired {
			break
		}
		res, err = c.DoDigestAuth(rctx, req, res, sipgo.DigestAuth{Username: t.Username, Password: t.Password.Reveal()})
		if err != nil {
			return 0, 0, fmt.Errorf("no answer to the authenticated REGISTER: %w", err)
		}
	}
	if res.StatusCode != sip.StatusOK {
		return 0, res.StatusCode, fmt.Errorf("registrar answered %d %s", res.StatusCode, res.Reason)
	}
	granted := time.Duration(t.RegisterExpires) * time.Second
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			granted = time.Duration(n) * time.Second
		}
	}
	return granted, 0, nil
}

// trunkContact is the Contact a register trunk binds at its carrier: the
// trunk's user at the PBX's SIP address, where the carrier sends calls, with
// transport=tcp on a TCP trunk (RFC 3261 §19.1.1) so they come over TCP.
func trunkContact(t *core.Trunk, host string, port int) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: t.Username, Host: host, Port: port}
	if strings.EqualFold(t.Transport, "tcp") {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// qualify sends OPTIONS and records the round trip.
func (k *trunkKeeper) qualify(ctx context.Context, t *core.Trunk) {
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: t.Host, Port: t.Port})
	req.SetDestination(t.Destination())
	req.SetTransport(strings.ToUpper(t.Transport))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	res, err := k.client(t).Do(rctx, req)
	rtt := time.Since(start)
	now := time.Now()
	k.set(t.ID, func(st *core.TrunkStatus) {
		st.LastOptionsAt = &now
		st.Reachable = err == nil && res != nil
		if st.Reachable {
			st.LastOptionsRTT = rtt
		}
	})
}
