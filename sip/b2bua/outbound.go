package b2bua

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
)

// outboundRingFor is how long an outbound call may ring.
const outboundRingFor = 120 * time.Second

// matchOutbound finds the first enabled route whose patterns match dialled.
func (b *B2BUA) matchOutbound(ctx context.Context, dialled string) (*core.OutboundRoute, string, error) {
	routes, err := b.dir.ListOutboundRoutes(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, r := range routes {
		if !r.Enabled {
			continue
		}
		if out, ok := r.Match(dialled); ok {
			return r, out, nil
		}
	}
	return nil, "", nil
}

// outbound handles a dialled string that is not an extension (or is an
// emergency number, or starts with *82): emergency numbers, then outbound
// routes with calling permissions, with *82 hiding the caller ID for the
// call. It reports false when no route matches.
func (b *B2BUA) outbound(req *sip.Request, tx sip.ServerTransaction, caller *core.Extension, dialed string) bool {
	ctx := context.Background()
	hide := false
	if rest, ok := strings.CutPrefix(dialed, "*82"); ok && rest != "" {
		hide, dialed = true, rest
	}
	emergency := slices.Contains(b.cfg.Emergency, dialed)
	route, number, err := b.matchOutbound(ctx, dialed)
	if err != nil {
		return false
	}
	if emergency && route == nil {
		route, number = b.firstRoute(ctx), dialed
	}
	if route == nil {
		return false
	}
	c := b.newCall(req, call.Record{Direction: call.Outbound, FromNumber: caller.Number, FromName: caller.Name, ToNumber: number})
	c.fromExt = caller.ID
	if !b.start(c, req, tx) {
		return true
	}
	if emergency {
		c.log.Warn("emergency call", "number", number)
	} else if class := core.ClassifyDialled(number, b.cfg.Country); !caller.MayCall(class) {
		c.log.Warn("call refused by calling permissions", "class", class, "security", true)
		c.reject(req, tx, sip.StatusForbidden, "Not Permitted", call.Failed, "not_permitted_"+class)
		return true
	}
	b.dialOut(c, req, tx, caller, route, number, emergency, hide)
	return true
}

// firstRoute is the highest-priority enabled route, for emergency calls no pattern matches.
func (b *B2BUA) firstRoute(ctx context.Context) *core.OutboundRoute {
	routes, err := b.dir.ListOutboundRoutes(ctx)
	if err != nil {
		return nil
	}
	for _, r := range routes {
		if r.Enabled {
			return r
		}
	}
	return nil
}

// dialOut sends a call out through the route's trunks, in order, moving on to
// the next trunk only when one fails for its own reasons (core.Failover).
func (b *B2BUA) dialOut(c *Call, req *sip.Request, tx sip.ServerTransaction, caller *core.Extension, route *core.OutboundRoute, number string, emergency, hide bool) {
	b.bridgeCaller(c, req, tx, outboundRingFor, b.trunkDialer(c, caller, route, number, emergency, hide))
}

// trunkDialer dials number out through the route's trunks, in order,
// presenting caller.
func (b *B2BUA) trunkDialer(c *Call, caller *core.Extension, route *core.OutboundRoute, number string, emergency, hide bool) dialFunc {
	callerID := caller.OutboundCallerID
	if callerID == "" {
		callerID = route.CallerID
	}
	if emergency && caller.EmergencyCallbackNumber != "" {
		callerID = caller.EmergencyCallbackNumber
	}
	// identity is what the trunk is told of the caller, per trunk: the
	// extension's or route's caller ID, else the trunk's first number.
	identity := func(t *core.Trunk) (*core.Extension, []sip.Header, string) {
		id := callerID
		if id == "" {
			if n, err := b.dir.FirstNumberOfTrunk(context.Background(), t.ID); err == nil {
				id = n.Number
			}
		}
		if id == "" {
			id = caller.Number
		}
		hidden := hide
		if n, err := b.dir.NumberByE164(context.Background(), id); err == nil && n.BlockCallerID {
			hidden = true
		}
		if !hidden || emergency { // emergency services always get the caller
			return &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: id, Name: caller.Name}}, nil, id
		}
		// RFC 3325: the trunk learns who calls (P-Asserted-Identity) and is
		// asked not to pass it on (Privacy: id); From says anonymous.
		return &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: "anonymous", Name: "Anonymous"}},
			[]sip.Header{sip.NewHeader("P-Asserted-Identity", "<sip:"+id+"@"+b.cfg.Domain+">"), sip.NewHeader("Privacy", "id")},
			"anonymous"
	}
	return func(ctx context.Context, offer []byte, onRinging func()) (*forkWin, forkOutcome) {
		last := forkOutcome{code: sip.StatusServiceUnavailable, reason: "No Trunk Available", disp: call.Failed, cause: call.CauseNoRoute}
		for i, id := range route.TrunkIDs {
			t, err := b.dir.GetTrunk(ctx, id)
			if err != nil || !t.Enabled {
				continue
			}
			if t.MaxChannels > 0 && b.TrunkChannels(t.ID) >= t.MaxChannels {
				c.log.Info("trunk at its channel limit, trying the next", "trunk", t.ID)
				continue
			}
			presented, headers, shown := identity(t)
			presented, headers = asTrunkUser(t, presented, headers, shown)
			c.mu.Lock()
			if c.rec.Direction == call.Inbound {
				// The call keeps the trunk it came in on.
				c.rec.OutboundTrunkID = string(t.ID)
			} else {
				c.rec.TrunkID = string(t.ID)
			}
			c.rec.Attempts = i + 1
			c.rec.CallerIDPresented = shown
			c.mu.Unlock()
			won, out := b.fork(ctx, []registrar.Binding{trunkBinding(t, number)}, dialSpec{
				offer: b.offerFor(c, t, offer), from: presented, to: &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: number}},
				onRinging: onRinging, early: c.early, fromHost: t.FromHost(), toHost: t.Host, headers: headers,
				authUser: t.Username, authPass: t.Password.Reveal(), trunk: true, realm: t.Realm, log: c.log,
			})
			if won != nil {
				return won, out
			}
			if ctx.Err() != nil {
				return nil, out
			}
			if out.refused {
				// The trunk answered with media the PBX refuses (that leg is
				// hung up): a fault of the trunk, so the next one is tried.
				c.log.Warn("trunk answer refused, trying the next", "trunk", t.ID)
				last = out
				continue
			}
			if TrunkAuthFailed(out.last) {
				// The carrier refused the trunk's credentials (or the trunk):
				// a fault of the trunk, so the next one is tried.
				c.log.Warn("trunk refused our credentials, trying the next", "trunk", t.ID, "status", out.last)
				if b.TrunkAuthFailedHook != nil {
					b.TrunkAuthFailedHook(t.ID, out.last)
				}
				last = forkOutcome{code: sip.StatusServiceUnavailable, reason: "All Trunks Failed", disp: call.Failed,
					cause: CauseTrunkAuthFailed, last: out.last}
				continue
			}
			if !core.Failover(out.last) {
				return nil, out
			}
			c.log.Info("trunk failed, trying the next", "trunk", t.ID, "status", out.last)
			last = forkOutcome{code: sip.StatusServiceUnavailable, reason: "All Trunks Failed", disp: call.Failed,
				cause: fmt.Sprintf("trunk_failure_%d", out.last), last: out.last}
		}
		return nil, last
	}
}

// trunkBinding addresses a number at a trunk as if it were a registered contact.
func trunkBinding(t *core.Trunk, number string) registrar.Binding {
	return registrar.Binding{Contact: "sip:" + number + "@" + t.HostPort(), Source: t.Destination(), Transport: strings.ToUpper(t.Transport)}
}
