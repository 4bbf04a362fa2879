// Package siptest is a real SIP phone for tests: it registers with digest
// authentication, dials, answers or rejects, sends a tone as G.711 RTP,
// measures what it hears with a Goertzel filter and sends RFC 4733 digits.
package siptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/sdp"
	dsip "github.com/dialtone-pbx/dialtone/sip"
)

// Answer says what a phone does with an incoming call.
type Answer int

// Answer modes.
const (
	AnswerNow   Answer = iota // 180 then 200
	RejectBusy                // 486
	RingForever               // 180, never answer
	// AnswerOnCancel rings and answers (200) at the moment the CANCEL of
	// the call arrives: the 200 leaves before the phone reads the CANCEL,
	// so the two cross, as when a callee picks up just as the caller gives
	// up. The phone's transaction then ignores the CANCEL (RFC 3261 §9.2).
	AnswerOnCancel
)

// Config of a test phone.
type Config struct {
	User     string
	Password string
	Domain   string
	PBX      netip.AddrPort // the PBX's SIP address (UDP)
	Codecs   []codec.Codec  // offered/accepted, in order; default PCMU
	ToneHz   float64        // the tone this phone sends
	Answer   Answer
	// RejectCode, when set, is the final response to every incoming call.
	RejectCode int
	// RingFor is how long the phone rings before it answers (default 50 ms).
	RingFor time.Duration
	// Silent answers without a provisional response, after RingFor, as an
	// auto-answering phone or a gateway may.
	Silent    bool
	UserAgent string
	// IP is the loopback address the phone uses (default 127.0.0.1), so a
	// test can give a carrier a source address of its own.
	IP string
	// Video adds a video stream (H.264, never sent) to the phone's offers,
	// as a video phone's would be.
	Video bool
	// NoTelephoneEvent leaves RFC 4733 out of the phone's offers and
	// answers: its digits can only be sent in-band (SendInbandDigits).
	NoTelephoneEvent bool
	// DelayedOffer dials with an INVITE without SDP: the phone takes the
	// offer from the 200 and answers in the ACK (RFC 3261 §13.2.1).
	DelayedOffer bool
	// EarlyMedia, on an incoming call, answers 183 Session Progress with
	// SDP and sends the phone's tone for RingFor (a 180 without SDP half
	// way through, as carriers do) before the 200 with the same SDP, as a
	// carrier playing ringback does (RFC 3960). On a call the phone
	// places, it takes early media: the SDP of a provisional response
	// starts the call's audio before the answer, and the call keeps the
	// arrival time of every packet (Arrivals, AnsweredAt, HeardEarly).
	EarlyMedia bool
	// SessionExpires, in seconds, asks for a session timer (RFC 4028):
	// dialling, the INVITE carries Session-Expires and Supported: timer;
	// answering, the 200 carries Session-Expires with Refresher.
	SessionExpires int
	// Refresher is the refresher parameter ("uac" or "uas"): asked for
	// when dialling (none when empty), given when answering (default
	// "uac", the PBX refreshes).
	Refresher string
}

// Phone is a SIP phone on a loopback UDP port.
type Phone struct {
	cfg     Config
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	conn    net.PacketConn
	contact sip.ContactHeader
	dsc     *sipgo.DialogServerCache
	dcc     *sipgo.DialogClientCache

	wire *wireConn

	mu       sync.Mutex
	calls    []*Call
	incoming chan *Call
	waiting  map[string]chan struct{} // AnswerOnCancel: ringing calls by Call-ID
	ringing  int

	refreshes []string // methods of the in-dialog refreshes received (timer.go)
}

// New starts a phone listening on 127.0.0.1.
func New(cfg Config) (*Phone, error) {
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []codec.Codec{codec.PCMU}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "siptest"
	}
	if cfg.RingFor == 0 {
		cfg.RingFor = 50 * time.Millisecond
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	conn, err := net.ListenPacket("udp", cfg.IP+":0")
	if err != nil {
		return nil, err
	}
	laddr := conn.LocalAddr().(*net.UDPAddr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(cfg.IP))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, _ := sipgo.NewServer(ua)
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(cfg.IP), sipgo.WithClientPort(laddr.Port),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &Phone{cfg: cfg, ua: ua, srv: srv, client: client, conn: conn, incoming: make(chan *Call, 8),
		waiting: map[string]chan struct{}{}}
	p.wire = newWireConn(conn, p)
	p.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: cfg.User, Host: cfg.IP, Port: laddr.Port}}
	p.dsc = sipgo.NewDialogServerCache(client, p.contact)
	p.dcc = sipgo.NewDialogClientCache(client, p.contact)
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	srv.OnBye(p.onBye)
	srv.OnUpdate(p.onUpdate)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	dsip.ServeUDP(ua, srv, p.wire)
	return p, nil
}

// Close hangs up and stops the phone.
func (p *Phone) Close() {
	p.mu.Lock()
	calls := append([]*Call(nil), p.calls...)
	p.mu.Unlock()
	for _, c := range calls {
		c.stopMedia()
	}
	_ = p.srv.Close()
	_ = p.conn.Close()
	_ = p.ua.Close()
}

// Addr is the phone's SIP address.
func (p *Phone) Addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *Phone) pbxURI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.cfg.PBX.Addr().String(), Port: int(p.cfg.PBX.Port())}
}

func (p *Phone) from() *sip.FromHeader {
	h := &sip.FromHeader{Address: p.aor(), Params: sip.NewParams()}
	h.Params.Add("tag", sip.GenerateTagN(10))
	return h
}

func (p *Phone) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.cfg.Domain}
}

// Register sends REGISTER (answering the digest challenge) and returns the
// final response. expires 0 unregisters.
func (p *Phone) Register(ctx context.Context, expires int) (*sip.Response, error) {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.cfg.PBX.Addr().String(), Port: int(p.cfg.PBX.Port())})
	req.AppendHeader(p.from())
	req.AppendHeader(&sip.ToHeader{Address: p.aor(), Params: sip.NewParams()})
	req.AppendHeader(sip.HeaderClone(&p.contact))
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	res, err := p.client.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == sip.StatusUnauthorized {
		return p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
	}
	return res, nil
}

// DialError is a final non-2xx answer to a call.
type DialError struct {
	Code int
	Res  *sip.Response // the final response
}

func (e *DialError) Error() string { return fmt.Sprintf("call failed with %d", e.Code) }

// Dial calls number through the PBX and returns once the call is answered.
func (p *Phone) Dial(ctx context.Context, number string) (*Call, error) {
	c, err := p.newCall()
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, p.pbxURI(number))
	req.AppendHeader(p.from())
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: p.cfg.Domain}, Params: sip.NewParams()})
	if !p.cfg.DelayedOffer {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(c.localSDP(sdp.SendRecv))
	}
	for _, h := range p.timerHeaders(true) {
		req.AppendHeader(h)
	}
	sess, err := p.dcc.WriteInvite(ctx, req)
	if err != nil {
		c.stopMedia()
		return nil, err
	}
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.cfg.User, Password: p.cfg.Password,
		OnResponse: func(res *sip.Response) error {
			if res.StatusCode == sip.StatusRinging {
				c.ringing.Store(true)
			}
			if p.cfg.EarlyMedia {
				c.early(res)
			}
			return nil
		}})
	if err != nil {
		c.stopMedia()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return nil, &DialError{Code: de.Res.StatusCode, Res: de.Res}
		}
		return nil, err
	}
	if p.cfg.DelayedOffer {
		return c, p.answerInAck(ctx, c, sess)
	}
	if err := sess.Ack(ctx); err != nil {
		c.stopMedia()
		return nil, err
	}
	c.mu.Lock()
	c.client = sess
	c.mu.Unlock()
	if c.earlyStarted() {
		return c, c.follow(sess.InviteResponse.Body())
	}
	if err := c.start(sess.InviteResponse.Body()); err != nil {
		_ = sess.Bye(ctx)
		c.stopMedia()
		return nil, err
	}
	return c, nil
}

// answerInAck takes the offer of the 200 to a delayed-offer INVITE and
// sends the answer in the ACK (RFC 3264 §4).
func (p *Phone) answerInAck(ctx context.Context, c *Call, sess *sipgo.DialogClientSession) error {
	c.mu.Lock()
	c.client = sess
	c.mu.Unlock()
	startErr := c.start(sess.InviteResponse.Body())
	target := sess.InviteRequest.Recipient
	if ct := sess.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	ack := sip.NewRequest(sip.ACK, target)
	if startErr == nil {
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(c.localSDP(sdp.SendRecv))
	}
	if err := sess.WriteAck(ctx, ack); err != nil {
		c.stopMedia()
		return err
	}
	if startErr != nil {
		_ = sess.Bye(ctx)
		c.stopMedia()
		return startErr
	}
	return nil
}

// Incoming waits for the next call the phone answered.
func (p *Phone) Incoming(ctx context.Context) (*Call, error) {
	select {
	case c := <-p.incoming:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			p.onReinvite(req, tx)
			return
		}
	}
	dlg, err := p.dsc.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, err.Error(), nil))
		return
	}
	defer func() {
		if dlg.LoadState() < sip.DialogStateEstablished {
			_ = dlg.Close()
		}
	}()
	if p.cfg.RejectCode != 0 {
		_ = dlg.Respond(p.cfg.RejectCode, "Rejected", nil)
		return
	}
	switch p.cfg.Answer {
	case RejectBusy:
		_ = dlg.Respond(sip.StatusBusyHere, "Busy Here", nil)
		return
	case RingForever:
		p.ring(dlg)
		defer p.rung()
		<-dlg.Context().Done()
		return
	}
	ringFor := time.After(p.cfg.RingFor)
	var cancelled chan struct{}
	if p.cfg.Answer == AnswerOnCancel {
		callID := req.CallID().Value()
		ringFor, cancelled = nil, make(chan struct{})
		p.mu.Lock()
		p.waiting[callID] = cancelled
		p.mu.Unlock()
		p.wire.expect200(callID)
		defer p.answerNow(callID)
	}
	if p.cfg.EarlyMedia && p.cfg.Answer == AnswerNow {
		p.answerEarly(req, dlg)
		return
	}
	rung := func() {}
	if !p.cfg.Silent {
		p.ring(dlg)
		rung = p.rung
	}
	select {
	case <-ringFor:
	case <-cancelled:
	case <-dlg.Context().Done():
		rung()
		return
	}
	rung()
	c, accepted := p.acceptMedia(req, dlg)
	if !accepted {
		return
	}
	ok := sip.NewSDPResponseFromRequest(dlg.InviteRequest, c.localSDP(sdp.SendRecv))
	for _, h := range p.timerHeaders(false) {
		ok.AppendHeader(h)
	}
	if err := dlg.WriteResponse(ok); err != nil && dlg.LoadState() < sip.DialogStateConfirmed {
		// (Confirmed or Ended with an error: the BYE that follows the ACK
		// at once was handled first; the call existed and is over.)
		c.stopMedia()
		return
	}
	p.incoming <- c
}

// ring sends 180 and counts the call as ringing until rung.
func (p *Phone) ring(dlg *sipgo.DialogServerSession) {
	p.mu.Lock()
	p.ringing++
	p.mu.Unlock()
	_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
}

func (p *Phone) rung() {
	p.mu.Lock()
	p.ringing--
	p.mu.Unlock()
}

// Ringing counts the incoming calls ringing now (180 sent, no final answer).
func (p *Phone) Ringing() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ringing
}

// answerNow wakes the AnswerOnCancel call callID; false when none rings.
func (p *Phone) answerNow(callID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.waiting[callID]
	if ch == nil {
		return false
	}
	delete(p.waiting, callID)
	close(ch)
	return true
}

// onReinvite answers hold/resume from the PBX and records the direction.
func (p *Phone) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
		return
	}
	m, err := sdp.Parse(req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Bad SDP", nil))
		return
	}
	c.mu.Lock()
	c.remoteDir = m.Direction
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(req, c.localSDP(m.Direction.Reverse()))
	res.AppendHeader(sip.HeaderClone(&p.contact))
	p.noteRefresh(req, res)
	_ = tx.Respond(res)
}

func (p *Phone) findCall(req *sip.Request) *Call {
	callID := req.CallID().Value()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.calls {
		if c.callID() == callID {
			return c
		}
	}
	return nil
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	var err error
	if err = p.dsc.ReadBye(req, tx); err != nil {
		err = p.dcc.ReadBye(req, tx)
	}
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
	}
	if c != nil {
		c.remoteHangup()
	}
}

// ParseCodecs maps names to codecs, for test tables.
func ParseCodecs(names string) []codec.Codec {
	var out []codec.Codec
	for _, n := range strings.Split(names, ",") {
		if c := codec.FromName(strings.TrimSpace(n)); c != codec.Unknown {
			out = append(out, c)
		}
	}
	return out
}

// acceptMedia opens the media of an incoming call from its offer and ties
// the call to its dialog; it answers 503 or 488 itself when it cannot.
func (p *Phone) acceptMedia(req *sip.Request, dlg *sipgo.DialogServerSession) (*Call, bool) {
	c, err := p.newCall()
	if err != nil {
		_ = dlg.Respond(sip.StatusServiceUnavailable, "No Media", nil)
		return nil, false
	}
	if err := c.start(req.Body()); err != nil {
		c.stopMedia()
		_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return nil, false
	}
	c.mu.Lock()
	c.server = dlg
	c.headers = req
	c.mu.Unlock()
	return c, true
}
