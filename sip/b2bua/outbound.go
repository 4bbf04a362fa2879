package b2bua

import (
	"context"
	"fmt"
	"net"
	"strconv"
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

// dialOut sends a call out through the route's trunks, in order, moving on to
// the next trunk only when one fails for its own reasons (core.Failover).
func (b *B2BUA) dialOut(c *Call, req *sip.Request, tx sip.ServerTransaction, caller *core.Extension, route *core.OutboundRoute, number string) {
	callerID := caller.OutboundCallerID
	if callerID == "" {
		callerID = route.CallerID
	}
	if callerID == "" {
		callerID = caller.Number
	}
	presented := &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: callerID, Name: caller.Name}}
	b.bridgeCaller(c, req, tx, outboundRingFor, func(ctx context.Context, offer []byte, onRinging func()) (*forkWin, forkOutcome) {
		last := forkOutcome{code: sip.StatusServiceUnavailable, reason: "No Trunk Available", disp: call.Failed, cause: call.CauseNoRoute}
		for i, id := range route.TrunkIDs {
			t, err := b.dir.GetTrunk(ctx, id)
			if err != nil || !t.Enabled {
				continue
			}
			c.mu.Lock()
			c.rec.TrunkID = string(t.ID)
			c.rec.Attempts = i + 1
			c.mu.Unlock()
			won, out := b.fork(ctx, []registrar.Binding{trunkBinding(t, number)}, dialSpec{
				offer: offer, from: presented, to: &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: number}},
				onRinging: onRinging, fromHost: firstNonEmpty(t.FromDomain, t.Host), toHost: t.Host,
				authUser: t.Username, authPass: t.Password.Reveal(),
			})
			if won != nil {
				return won, out
			}
			if ctx.Err() != nil {
				return nil, out
			}
			if !core.Failover(out.last) {
				return nil, out
			}
			c.log.Info("trunk failed, trying the next", "trunk", t.ID, "status", out.last)
			last = forkOutcome{code: sip.StatusServiceUnavailable, reason: "All Trunks Failed", disp: call.Failed,
				cause: fmt.Sprintf("trunk_failure_%d", out.last), last: out.last}
		}
		return nil, last
	})
}

// trunkBinding addresses a number at a trunk as if it were a registered contact.
func trunkBinding(t *core.Trunk, number string) registrar.Binding {
	hostPort := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	dest := hostPort
	if t.OutboundProxy != "" {
		dest = t.OutboundProxy
		if !strings.Contains(dest, ":") {
			dest = net.JoinHostPort(dest, "5060")
		}
	}
	return registrar.Binding{Contact: "sip:" + number + "@" + hostPort, Source: dest, Transport: strings.ToUpper(t.Transport)}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
