package siptest

import (
	"context"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// timerHeaders are the session timer headers (RFC 4028) of the phone's
// INVITE (dialling) or 200 (answering); none without Config.SessionExpires.
func (p *Phone) timerHeaders(dialling bool) []sip.Header {
	if p.cfg.SessionExpires == 0 {
		return nil
	}
	se := strconv.Itoa(p.cfg.SessionExpires)
	if dialling {
		if p.cfg.Refresher != "" {
			se += ";refresher=" + p.cfg.Refresher
		}
		return []sip.Header{sip.NewHeader("Supported", "timer"), sip.NewHeader("Session-Expires", se)}
	}
	refresher := p.cfg.Refresher
	if refresher == "" {
		refresher = "uac"
	}
	return []sip.Header{sip.NewHeader("Require", "timer"), sip.NewHeader("Session-Expires", se+";refresher="+refresher),
		sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")}
}

// noteRefresh counts an in-dialog refresh and echoes its Session-Expires in
// the answer (RFC 4028 §9).
func (p *Phone) noteRefresh(req *sip.Request, res *sip.Response) {
	p.mu.Lock()
	p.refreshes = append(p.refreshes, string(req.Method))
	p.mu.Unlock()
	if h := req.GetHeader("Session-Expires"); h != nil {
		v := h.Value()
		if !strings.Contains(v, "refresher=") {
			v += ";refresher=uac"
		}
		res.AppendHeader(sip.NewHeader("Session-Expires", v))
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// Refreshes lists the methods of the session refreshes (UPDATE, INVITE)
// the phone has received within its calls.
func (p *Phone) Refreshes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refreshes...)
}

// onUpdate answers an UPDATE within a call (RFC 3311): 200, with the
// phone's SDP when it carries an offer.
func (p *Phone) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if len(req.Body()) > 0 {
		res = sip.NewSDPResponseFromRequest(req, c.localSDP(sdp.SendRecv))
	}
	res.AppendHeader(sip.HeaderClone(&p.contact))
	p.noteRefresh(req, res)
	_ = tx.Respond(res)
}

// Refresh sends a session refresh within the call (RFC 4028 §7.4): an
// UPDATE without SDP (method sip.UPDATE), or a re-INVITE with the phone's
// unchanged SDP (sip.INVITE), asking to stay the refresher. It returns the
// final response.
func (c *Call) Refresh(ctx context.Context, method sip.RequestMethod) (*sip.Response, error) {
	var target sip.Uri
	if c.client != nil {
		target = c.client.InviteResponse.Contact().Address
	} else {
		target = c.headers.Contact().Address
	}
	req := sip.NewRequest(method, target)
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if se := c.phone.cfg.SessionExpires; se > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(se)+";refresher=uac"))
	}
	if method == sip.INVITE {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(c.localSDP(sdp.SendRecv))
	}
	var res *sip.Response
	var err error
	if c.client != nil {
		res, err = c.client.Do(ctx, req)
		if err == nil && method == sip.INVITE && res.StatusCode == sip.StatusOK {
			err = c.client.WriteAck(ctx, sip.NewRequest(sip.ACK, target))
		}
	} else {
		res, err = c.server.Do(ctx, req)
		if err == nil && method == sip.INVITE && res.StatusCode == sip.StatusOK {
			err = c.server.WriteRequest(sip.NewRequest(sip.ACK, target))
		}
	}
	return res, err
}
