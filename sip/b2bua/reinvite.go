package b2bua

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// reinvite answers an in-dialog INVITE from one leg with our own SDP for that
// leg (RFC 3264 §8), and tells the other leg when the hold state changed.
func (c *Call) reinvite(req *sip.Request, tx sip.ServerTransaction, fromA bool) {
	c.answerInDialog(req, tx, fromA, false)
}

// update answers an UPDATE from one leg (RFC 3311 §5.2): with our SDP when
// it carries an offer, as a re-INVITE would be answered, and without a body
// when it is only a session refresh (RFC 4028 §7.4).
func (c *Call) update(req *sip.Request, tx sip.ServerTransaction, fromA bool) {
	c.answerInDialog(req, tx, fromA, true)
}

// answerInDialog answers a re-INVITE or an UPDATE: a new offer is answered,
// the leg's session timer is refreshed and its terms go in the 2xx
// (RFC 4028 §9).
func (c *Call) answerInDialog(req *sip.Request, tx sip.ServerTransaction, fromA, update bool) {
	if c.b2b.refuseBrief(req, tx) {
		return
	}
	c.mu.Lock()
	if c.state != call.StateAnswered {
		c.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRequestPending, "Request Pending", nil))
		return
	}
	leg, local := c.bLeg, &c.bLocal
	if fromA {
		leg, local = c.aLeg, &c.aLocal
	}
	changed := false
	var dir sdp.Direction
	if len(req.Body()) > 0 {
		m, err := sdp.Parse(req.Body())
		var f sdp.Format
		if err == nil {
			f, err = m.Choose(c.b2b.cfg.Codecs)
		}
		if err != nil {
			c.mu.Unlock()
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
			return
		}
		// c=0.0.0.0 here is hold (RFC 3264 §8.4); any other address the PBX
		// cannot send to is refused and the session goes on unchanged.
		if err := c.b2b.checkMedia(m, false); err != nil {
			c.mu.Unlock()
			c.log.Warn("re-offer refused: media address not acceptable", "error", err, "security", true)
			res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			res.AppendHeader(c.b2b.warnMediaAddr(err))
			_ = tx.Respond(res)
			return
		}
		prev := leg.Remote()
		hold := m.OnHold()
		changed = prev != nil && prev.Receive == hold
		leg.SetRemote(remoteOf(m, f))
		dir = m.Direction
		if m.Addr.Addr().IsUnspecified() {
			// RFC 2543 hold (RFC 3264 §8.4): nothing is to be sent to that
			// party; the call is held with media inactive both ways.
			dir = sdp.Inactive
		}
		local.Direction = dir.Reverse()
		local.Codecs = preferring(f.Codec, nil)
		local.DTMF = m.DTMFPayloadType
		local.Streams, local.Index = m.Streams, m.Index // RFC 3264 §6, §8
		local.Version++
	}
	if len(req.Body()) == 0 && !update {
		// A re-INVITE without SDP: our 2xx carries the offer, the ACK the
		// answer (RFC 3261 §14.2, RFC 3264 §4).
		side := 1
		if fromA {
			side = 0
		}
		c.offerInAck[side] = true
	}
	body := local.Marshal()
	c.mu.Unlock()

	res := sip.NewSDPResponseFromRequest(req, body)
	if update && len(req.Body()) == 0 {
		// An UPDATE without an offer gets no answer (RFC 3311 §5.2).
		res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	}
	ua := c.b2b.dialogUA(req.Transport())
	res.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
	for _, h := range okHeaders() {
		res.AppendHeader(h)
	}
	// Any refresh from the leg restarts its session timer (RFC 4028 §10).
	for _, h := range c.refreshed(fromA, answerTerms(req, c.b2b.cfg.MinSE)).headers() {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
	if changed {
		event := "resumed"
		if dir != sdp.SendRecv {
			event = "held"
		}
		c.log.Info("call "+event, "by_caller", fromA)
		by := "callee"
		if fromA {
			by = "caller"
		}
		t := core.EventCallResumed
		if event == "held" {
			t = core.EventCallHeld
		}
		c.emit(t, func(d *call.EventData) { d.HeldBy = by })
		c.mu.Lock()
		connected := c.b != nil && c.relay != nil
		c.mu.Unlock()
		if connected {
			go c.relayHold(!fromA, dir)
			// In the order the re-INVITEs came: a quick hold and resume
			// never leaves the music playing.
			c.holdMusic(!fromA, dir != sdp.SendRecv)
		}
	}
}

// relayHold sends a re-INVITE to one leg so its phone learns that the other
// party put the call on hold (dir sendonly/inactive) or resumed it (sendrecv).
func (c *Call) relayHold(toA bool, dir sdp.Direction) {
	c.mu.Lock()
	local := &c.bLocal
	if toA {
		local = &c.aLocal
	}
	local.Direction = dir
	local.Version++
	body := local.Marshal()
	d := c.b
	if toA {
		d = c.a
	}
	c.mu.Unlock()
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := d.reinvite(ctx, body)
	if err != nil || res.StatusCode != sip.StatusOK {
		c.log.Warn("re-invite to the other leg failed", "error", err)
		return
	}
	// The other phone's answer may carry a new address or direction.
	if m, err := sdp.Parse(res.Body()); err == nil {
		if f, err := m.Choose(c.b2b.cfg.Codecs); err == nil {
			if err := c.b2b.checkMedia(m, false); err != nil {
				c.log.Warn("answer to a re-invite refused: media address not acceptable", "error", err, "security", true)
				return
			}
			leg := c.bLeg
			if toA {
				leg = c.aLeg
			}
			leg.SetRemote(remoteOf(m, f))
		}
	}
}

// HandleUpdate answers an UPDATE within a call (RFC 3311): an offer or a
// session refresh (RFC 4028).
func (b *B2BUA) HandleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c, d, isA := b.lookup(req)
	if d == nil {
		noCall(req, tx)
		return
	}
	c.update(req, tx, isA)
}
