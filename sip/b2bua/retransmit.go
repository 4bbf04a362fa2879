package b2bua

import "github.com/emiago/sipgo/sip"

// answeredInvite is the INVITE of a call whose caller acknowledged its 2xx:
// the call, and what makes a request a retransmission of it.
type answeredInvite struct {
	c      *Call
	branch string
	cseq   uint32
}

// callerKey is an initial INVITE's Call-ID and From tag: with the branch and
// CSeq, what RFC 3261 §8.2.2.2 and §17.2.3 match a request on.
func callerKey(req *sip.Request) (string, bool) {
	id, from := req.CallID(), req.From()
	if id == nil || from == nil {
		return "", false
	}
	tag, ok := from.Params.Get("tag")
	if !ok || tag == "" {
		return "", false
	}
	return id.Value() + "\x00" + tag, true
}

func viaBranch(req *sip.Request) string {
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// ackedCaller notes that c's caller acknowledged the 2xx of the INVITE d was
// made from, whose transaction is about to end (Call.lighten).
func (b *B2BUA) ackedCaller(c *Call, d *leanDialog) {
	key := d.callID.Value() + "\x00" + d.remoteTag()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, live := b.calls[c.id]; !live {
		return
	}
	b.byCaller[key] = answeredInvite{c: c, branch: d.inviteBranch, cseq: d.inviteCSeq}
	c.callerKey = key
}

// KnownCaller reports whether req, an initial INVITE, has the Call-ID and
// From tag of a call Retransmitted knows: it is then that call's
// retransmission or a merged request, which Retransmitted answers.
func (b *B2BUA) KnownCaller(req *sip.Request) bool {
	_, found := b.answeredFor(req)
	return found
}

// answeredFor is the answered INVITE with req's Call-ID and From tag.
func (b *B2BUA) answeredFor(req *sip.Request) (answeredInvite, bool) {
	key, ok := callerKey(req)
	if !ok {
		return answeredInvite{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, found := b.byCaller[key]
	return inv, found
}

// Retransmitted takes an initial INVITE (no To tag) that belongs to a call
// already answered and acknowledged, whose INVITE transaction the PBX ended
// at the ACK. A retransmission of that INVITE (same branch and CSeq) is
// absorbed as its transaction would have (RFC 3261 §17.2.1): no response.
// Any other request with the call's Call-ID and From tag is a merged request
// and is answered 482 (§8.2.2.2). False: the INVITE is for a new call.
func (b *B2BUA) Retransmitted(req *sip.Request, tx sip.ServerTransaction) bool {
	inv, found := b.answeredFor(req)
	if !found {
		return false
	}
	if viaBranch(req) == inv.branch && req.CSeq() != nil && req.CSeq().SeqNo == inv.cseq {
		tx.Terminate()
		return true
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusLoopDetected, "Loop Detected", nil))
	return true
}

// ReAck answers a 2xx to an INVITE that no transaction took any more: the
// callee's retransmission of a 2xx whose ACK was lost, once the INVITE
// client transaction ended (RFC 6026 §8.9, the 2xx goes to the core). The
// dialog's ACK is sent again (RFC 3261 §13.2.2.4). A 2xx for no live dialog
// is ignored.
func (b *B2BUA) ReAck(res *sip.Response) {
	if !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE {
		return
	}
	id, err := sip.DialogIDFromResponse(res)
	if err != nil {
		return
	}
	b.mu.Lock()
	c := b.byDialog[id]
	b.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	var d *leanDialog
	for _, x := range []dialog{c.a, c.b} {
		if l, ok := x.(*leanDialog); ok && !l.uas && l.id == id {
			d = l
		}
	}
	c.mu.Unlock()
	if d == nil || res.CSeq().SeqNo != d.inviteCSeq {
		return
	}
	_ = d.ack(d.inviteCSeq)
}
