package b2bua

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// leanDialog is a confirmed dialog kept as only what requests within it need
// (RFC 3261 §12.2.1.1): the Call-ID, both parties with their tags, the remote
// target, the route set, the local CSeq and where requests go. Once a leg's
// dialog is confirmed the call keeps this instead of sipgo's session, which
// would otherwise hold the INVITE, a clone of it, the 2xx, the ACK and the
// INVITE transaction for the whole call. (sipgo's transactions keep their
// own references until their timers end, 64*T1 after the answer; then the
// messages are freed.)
type leanDialog struct {
	id     string
	uas    bool // the PBX answered this dialog's INVITE
	callID sip.CallIDHeader
	local  sip.FromHeader // the PBX's party, with its tag
	remote sip.ToHeader   // the far party, with its tag
	target sip.Uri        // the remote target (RFC 3261 §12.1)
	// routes is the route set as Route values, in the order they are sent.
	routes []string
	// dest is where requests go when the route set does not say: the
	// address the dialog's INVITE or 2xx came from ("" the target).
	dest      string
	transport string
	// inviteCSeq is the CSeq of the INVITE that made the dialog; an
	// earlier BYE is not for this dialog. inviteBranch is its Via branch
	// (for the UAS: the caller's).
	inviteCSeq   uint32
	inviteBranch string
	cseq         atomic.Uint32 // the last CSeq the PBX sent
	ended        atomic.Bool
	ua           *sipgo.DialogUA
}

// leanUAS is the lean form of a caller's dialog whose 2xx was acknowledged.
// It builds requests as sipgo's DialogServerSession does.
func leanUAS(s *sipgo.DialogServerSession, ua *sipgo.DialogUA) (*leanDialog, bool) {
	inv, res := s.InviteRequest, s.InviteResponse
	if inv == nil || res == nil || inv.From() == nil || inv.CallID() == nil || inv.CSeq() == nil ||
		inv.Contact() == nil || res.To() == nil {
		return nil, false
	}
	d := &leanDialog{id: s.ID, uas: true, callID: *inv.CallID(), local: res.To().AsFrom(), remote: inv.From().AsTo(),
		target: *inv.Contact().Address.Clone(), transport: inv.Transport(), inviteCSeq: inv.CSeq().SeqNo,
		inviteBranch: viaBranch(inv), ua: ua}
	// The UAS route set is the INVITE's Record-Route, in order (§12.1.1).
	for _, h := range inv.GetHeaders("Record-Route") {
		d.routes = append(d.routes, h.Value())
	}
	if len(d.routes) == 0 && ua.RewriteContact {
		d.dest = inv.Source()
	}
	d.cseq.Store(s.CSEQ())
	return d, true
}

// leanUAC is the lean form of a dialog the PBX dialled, once it sent the ACK.
// It builds requests as sipgo's DialogClientSession does.
func leanUAC(s *sipgo.DialogClientSession) (*leanDialog, bool) {
	inv, res := s.InviteRequest, s.InviteResponse
	if inv == nil || res == nil || inv.From() == nil || inv.CallID() == nil || inv.CSeq() == nil || res.To() == nil {
		return nil, false
	}
	from, _ := sip.HeaderClone(inv.From()).(*sip.FromHeader)
	to, _ := sip.HeaderClone(res.To()).(*sip.ToHeader)
	d := &leanDialog{id: s.ID, callID: *inv.CallID(), local: *from, remote: *to, target: *inv.Recipient.Clone(),
		transport: inv.Transport(), inviteCSeq: inv.CSeq().SeqNo, ua: s.UA}
	if c := res.Contact(); c != nil {
		d.target = *c.Address.Clone()
	}
	// The UAC route set is the 2xx's Record-Route, reversed (§12.1.2).
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rr[i].Value())
	}
	if len(d.routes) == 0 && s.UA.RewriteContact {
		d.dest = res.Source()
	}
	d.cseq.Store(s.CSEQ())
	return d, true
}

func (d *leanDialog) dialogID() string { return d.id }

func (d *leanDialog) matches(req *sip.Request) bool {
	var id string
	var err error
	if d.uas {
		id, err = sip.DialogIDFromRequestUAS(req)
	} else {
		id, err = sip.DialogIDFromRequestUAC(req)
	}
	return err == nil && id == d.id
}

func (d *leanDialog) established() bool { return !d.ended.Load() }

func (d *leanDialog) Close() error { return nil }

// readAck takes the ACK of a re-INVITE the far party sent: nothing to do for
// the dialog (its answer, if any, is taken by Call.ackReceived).
func (d *leanDialog) readAck(*sip.Request, sip.ServerTransaction) {}

// readBye answers the far party's BYE and ends the dialog. The BYE's
// transaction ends with its 200 rather than 64*T1 later (Timer J): a
// retransmission of the BYE, sent only when the 200 was lost, finds no
// dialog and gets 481, which ends the far party's dialog all the same
// (RFC 3261 §15.1.1), while a transaction kept for each ended call would
// hold its BYE and 200 for 32 s.
func (d *leanDialog) readBye(req *sip.Request, tx sip.ServerTransaction) error {
	if d.uas && req.CSeq().SeqNo < d.inviteCSeq {
		return sipgo.ErrDialogInvalidCseq
	}
	d.ended.Store(true)
	err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	tx.Terminate()
	return err
}

// Bye ends the dialog from the PBX's side and waits for the answer.
func (d *leanDialog) Bye(ctx context.Context) error {
	if d.ended.Swap(true) {
		return nil
	}
	res, err := d.send(ctx, sip.BYE, nil, nil)
	if err != nil {
		return err
	}
	if res.StatusCode != sip.StatusOK {
		return sipgo.ErrDialogResponse{Res: res}
	}
	return nil
}

func (d *leanDialog) reinvite(ctx context.Context, body []byte) (*sip.Response, error) {
	return d.send(ctx, sip.INVITE, body, nil)
}

// send sends a request within the dialog and waits for its final response;
// a 2xx to an INVITE is acknowledged (RFC 3261 §13.2.2.4).
func (d *leanDialog) send(ctx context.Context, method sip.RequestMethod, body []byte, hs []sip.Header) (*sip.Response, error) {
	req := d.request(method, d.cseq.Add(1), hs)
	if len(body) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	tx, err := d.ua.Client.TransactionRequest(ctx, req, withVia)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx)
	if err != nil {
		return nil, err
	}
	if method == sip.INVITE && res.IsSuccess() {
		if err := d.ack(req.CSeq().SeqNo); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ack sends the ACK of the dialog's INVITE with CSeq seq: the ACK of a 2xx is
// a request of its own, sent without a transaction (RFC 3261 §13.2.2.4).
func (d *leanDialog) ack(seq uint32) error {
	return d.ua.Client.WriteRequest(d.request(sip.ACK, seq, nil), withVia)
}

// remoteTag is the far party's tag.
func (d *leanDialog) remoteTag() string {
	tag, _ := d.remote.Params.Get("tag")
	return tag
}

func finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended without a final response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// withVia adds the PBX's Via and a Content-Length, and leaves the dialog's
// CSeq and headers as they are.
func withVia(c *sipgo.Client, req *sip.Request) error {
	if req.Via() == nil {
		if err := sipgo.ClientRequestAddVia(c, req); err != nil {
			return err
		}
	}
	if req.Body() == nil {
		req.SetBody(nil)
	}
	return nil
}

// request builds a request within the dialog (RFC 3261 §12.2.1.1).
func (d *leanDialog) request(method sip.RequestMethod, seq uint32, hs []sip.Header) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	callID := d.callID
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(sip.HeaderClone(&d.local))
	req.AppendHeader(sip.HeaderClone(&d.remote))
	req.AppendHeader(&callID)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, h := range hs {
		req.AppendHeader(h)
	}
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	if len(d.routes) > 0 {
		if rh := req.Route(); rh != nil {
			if d.uas {
				req.SetDestination(rh.Address.HostPort())
			} else if !rh.Address.UriParams.Has("lr") {
				// A strict router takes the request in its Request-URI.
				req.Recipient = *rh.Address.Clone()
			}
		}
	}
	req.AppendHeader(sip.HeaderClone(&d.ua.ContactHDR))
	if d.dest != "" {
		req.SetDestination(d.dest)
	}
	req.SetTransport(d.transport)
	return req
}
