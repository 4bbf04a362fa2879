package b2bua

import (
	"context"
	"errors"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// dialog is one leg's SIP dialog, whichever side of it the PBX is: the UAS
// for a caller's INVITE, the UAC for a leg the PBX dialled (a callee, or the
// first party of a click-to-call).
type dialog interface {
	dialogID() string
	matches(req *sip.Request) bool
	established() bool
	Bye(ctx context.Context) error
	Close() error
	readAck(req *sip.Request, tx sip.ServerTransaction)
	readBye(req *sip.Request, tx sip.ServerTransaction) error
	// reinvite sends an in-dialog INVITE with body, ACKs a 200, and returns the answer.
	reinvite(ctx context.Context, body []byte) (*sip.Response, error)
}

type uasDialog struct {
	s  *sipgo.DialogServerSession
	ua *sipgo.DialogUA       // the UA that read the INVITE
	tx sip.ServerTransaction // the INVITE's transaction
}

func (d uasDialog) dialogID() string { return d.s.ID }

func (d uasDialog) matches(req *sip.Request) bool {
	id, err := sip.DialogIDFromRequestUAS(req)
	return err == nil && id == d.s.ID
}

func (d uasDialog) established() bool { return live(d.s.LoadState()) }

// live reports whether a dialog is up: established or confirmed, not ended.
func live(s sip.DialogState) bool {
	return s == sip.DialogStateEstablished || s == sip.DialogStateConfirmed
}

func (d uasDialog) Bye(ctx context.Context) error { return d.s.Bye(ctx) }

func (d uasDialog) Close() error { return d.s.Close() }

// readAck confirms the dialog, unless a BYE handled before the ACK ended it:
// an ended dialog stays ended.
func (d uasDialog) readAck(req *sip.Request, tx sip.ServerTransaction) {
	if d.s.LoadState() != sip.DialogStateEnded {
		_ = d.s.ReadAck(req, tx)
	}
}

func (d uasDialog) readBye(req *sip.Request, tx sip.ServerTransaction) error {
	return d.s.ReadBye(req, tx)
}

func (d uasDialog) reinvite(ctx context.Context, body []byte) (*sip.Response, error) {
	if d.s.InviteRequest == nil || d.s.InviteRequest.Contact() == nil {
		return nil, errors.New("dialog has no remote target")
	}
	target := d.s.InviteRequest.Contact().Address
	res, err := d.s.Do(ctx, newReinvite(target, body))
	if err != nil {
		return nil, err
	}
	if res.StatusCode == sip.StatusOK {
		err = d.s.WriteRequest(sip.NewRequest(sip.ACK, target))
	}
	return res, err
}

type uacDialog struct{ s *sipgo.DialogClientSession }

func (d uacDialog) dialogID() string { return d.s.ID }

func (d uacDialog) matches(req *sip.Request) bool {
	id, err := sip.DialogIDFromRequestUAC(req)
	return err == nil && id == d.s.ID
}

func (d uacDialog) established() bool { return live(d.s.LoadState()) }

func (d uacDialog) Bye(ctx context.Context) error { return d.s.Bye(ctx) }

func (d uacDialog) Close() error { return d.s.Close() }

func (d uacDialog) readAck(*sip.Request, sip.ServerTransaction) {}

func (d uacDialog) readBye(req *sip.Request, tx sip.ServerTransaction) error {
	return d.s.ReadBye(req, tx)
}

func (d uacDialog) reinvite(ctx context.Context, body []byte) (*sip.Response, error) {
	if d.s.InviteResponse == nil || d.s.InviteResponse.Contact() == nil {
		return nil, errors.New("dialog has no remote target")
	}
	target := d.s.InviteResponse.Contact().Address
	res, err := d.s.Do(ctx, newReinvite(target, body))
	if err != nil {
		return nil, err
	}
	if res.StatusCode == sip.StatusOK {
		err = d.s.WriteAck(ctx, sip.NewRequest(sip.ACK, target))
	}
	return res, err
}

func newReinvite(target sip.Uri, body []byte) *sip.Request {
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	return req
}

// lighten replaces a leg's sipgo session with its lean form (leanDialog)
// once the dialog is confirmed: its 2xx acknowledged. A leg already lean,
// not yet confirmed or ended stays as it is.
//
// The INVITE transaction of a caller whose ACK came is ended then, not 64*T1
// after the 2xx (RFC 6026 §8.7, Timer L): what it would still absorb, a
// retransmission of the INVITE, is recognised by the call (see
// B2BUA.Retransmitted).
func (c *Call) lighten(toA bool) {
	c.mu.Lock()
	if c.state == call.StateEnded {
		c.mu.Unlock()
		return
	}
	p := &c.b
	if toA {
		p = &c.a
	}
	var lean *leanDialog
	var inviteTx sip.ServerTransaction
	ok := false
	switch d := (*p).(type) {
	case uasDialog:
		if d.s.LoadState() == sip.DialogStateConfirmed {
			lean, ok = leanUAS(d.s, d.ua)
			inviteTx = d.tx
		}
	case uacDialog:
		if d.s.LoadState() == sip.DialogStateConfirmed {
			lean, ok = leanUAC(d.s)
		}
	}
	if ok {
		*p = lean
	}
	if toA {
		// The caller's early media ended with its answer; the relay it
		// set up carries on without it.
		c.early = nil
	}
	c.mu.Unlock()
	if ok && inviteTx != nil && c.b2b != nil {
		c.b2b.ackedCaller(c, lean)
		inviteTx.Terminate()
	}
}
