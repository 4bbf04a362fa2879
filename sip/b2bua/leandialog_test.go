package b2bua

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// sipPeer is a SIP user agent on a loopback socket that answers every
// request 200 and keeps what it received.
type sipPeer struct {
	addr   string
	client *sipgo.Client
	ua     *sipgo.UserAgent

	mu  sync.Mutex
	got []*sip.Request
	in  chan struct{}
}

func newSIPPeer(t *testing.T, answer []byte) *sipPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	p := &sipPeer{addr: conn.LocalAddr().String(), client: client, ua: ua, in: make(chan struct{}, 16)}
	keep := func(req *sip.Request) {
		p.mu.Lock()
		p.got = append(p.got, req)
		p.mu.Unlock()
		p.in <- struct{}{}
	}
	ok := func(req *sip.Request, tx sip.ServerTransaction) {
		keep(req)
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		if req.IsInvite() {
			res = sip.NewSDPResponseFromRequest(req, answer)
		}
		_ = tx.Respond(res)
	}
	srv.OnBye(ok)
	srv.OnInvite(ok)
	srv.OnUpdate(ok)
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) { keep(req) })
	go func() { _ = srv.ServeUDP(conn) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := ua.TransportLayer().GetConnection("udp", p.addr); err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("peer's socket not served")
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() { _ = ua.Close() })
	return p
}

// next waits for the next request the peer received.
func (p *sipPeer) next(t *testing.T) *sip.Request {
	t.Helper()
	select {
	case <-p.in:
	case <-time.After(3 * time.Second):
		t.Fatal("no request reached the peer")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.got[0]
	p.got = p.got[1:]
	return r
}

// parseSIP parses a message written with \n line ends.
func parseSIP(t *testing.T, raw string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func parseRequest(t *testing.T, raw string) *sip.Request {
	t.Helper()
	return parseSIP(t, raw).(*sip.Request)
}

func parseResponse(t *testing.T, raw string) *sip.Response {
	t.Helper()
	return parseSIP(t, raw).(*sip.Response)
}

func routeValues(req *sip.Request) []string {
	var out []string
	for _, h := range req.GetHeaders("Route") {
		out = append(out, h.Value())
	}
	return out
}

// TestLeanDialogRequests: a confirmed dialog in its lean form sends BYE,
// re-INVITE (and its ACK) and UPDATE as RFC 3261 §12.2.1.1 has them: to
// the remote target through the route set, with both tags, the Call-ID and
// a CSeq one above the last, for the UAS and the UAC sides of a dialog.
func TestLeanDialogRequests(t *testing.T) {
	pbx := newSIPPeer(t, nil)
	pbxUA := &sipgo.DialogUA{Client: pbx.client, RewriteContact: true,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}}}
	const sdpAnswer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"

	tests := []struct {
		name string
		uas  bool
		// rr are the Record-Route values of the dialog's INVITE (UAS) or
		// 2xx (UAC); "PEER" stands for the far party's address.
		rr     []string
		routes []string // the Route values sent, in order
		// strict: the Request-URI is the first route's (a strict router).
		strict bool
	}{
		{name: "uas without a route set", uas: true},
		{name: "uas through two proxies", uas: true, rr: []string{"<sip:PEER;lr>", "<sip:10.9.9.9:5070;lr>"},
			routes: []string{"<sip:PEER;lr>", "<sip:10.9.9.9:5070;lr>"}},
		{name: "uac without a route set"},
		{name: "uac through two proxies", rr: []string{"<sip:10.9.9.9:5070;lr>", "<sip:PEER;lr>"},
			routes: []string{"<sip:PEER;lr>", "<sip:10.9.9.9:5070;lr>"}},
		{name: "uac through a strict router", rr: []string{"<sip:PEER>"}, routes: []string{"<sip:PEER>"}, strict: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			far := newSIPPeer(t, []byte(sdpAnswer))
			// The far party's Contact is not where requests can go without
			// a route set: they go to where its messages came from.
			contact := "sip:bob@192.0.2.1:5060"
			var rr strings.Builder
			for _, v := range tt.rr {
				fmt.Fprintf(&rr, "Record-Route: %s\n", strings.ReplaceAll(v, "PEER", far.addr))
			}
			var d *leanDialog
			var ok bool
			if tt.uas {
				inv := parseRequest(t, "INVITE sip:100@127.0.0.1:5999 SIP/2.0\n"+
					"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\n"+rr.String()+
					"From: \"Bob\" <sip:bob@example.com>;tag=far-tag\nTo: <sip:100@example.com>\n"+
					"Call-ID: lean-1@example.com\nCSeq: 7 INVITE\nContact: <"+contact+">\nContent-Length: 0\n\n")
				inv.SetSource(far.addr)
				inv.SetTransport("UDP")
				sess := &sipgo.DialogServerSession{Dialog: sipgo.Dialog{InviteRequest: inv}}
				sess.Init()
				res := sip.NewResponseFromRequest(inv, sip.StatusOK, "OK", nil)
				res.To().Params.Add("tag", "pbx-tag")
				sess.InviteResponse = res
				sess.ID, _ = sip.DialogIDFromResponse(res)
				d, ok = leanUAS(sess, pbxUA)
			} else {
				inv := parseRequest(t, "INVITE "+contact+" SIP/2.0\n"+
					"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-2\n"+
					"From: <sip:100@example.com>;tag=pbx-tag\nTo: <sip:bob@example.com>\n"+
					"Call-ID: lean-1@example.com\nCSeq: 7 INVITE\nContact: <sip:127.0.0.1:5999>\nContent-Length: 0\n\n")
				inv.SetTransport("UDP")
				res := parseResponse(t, "SIP/2.0 200 OK\n"+
					"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-2\n"+rr.String()+
					"From: <sip:100@example.com>;tag=pbx-tag\nTo: <sip:bob@example.com>;tag=far-tag\n"+
					"Call-ID: lean-1@example.com\nCSeq: 7 INVITE\nContact: <"+contact+">\nContent-Length: 0\n\n")
				res.SetSource(far.addr)
				sess := &sipgo.DialogClientSession{Dialog: sipgo.Dialog{InviteRequest: inv, InviteResponse: res}, UA: pbxUA}
				sess.Init()
				sess.ID, _ = sip.DialogIDFromResponse(res)
				d, ok = leanUAC(sess)
			}
			if !ok {
				t.Fatal("no lean dialog")
			}
			var want []string
			for _, v := range tt.routes {
				want = append(want, strings.ReplaceAll(v, "PEER", far.addr))
			}
			check := func(req *sip.Request, method sip.RequestMethod, seq uint32) {
				t.Helper()
				if req.Method != method {
					t.Fatalf("got %s, want %s", req.Method, method)
				}
				uri := req.Recipient.String()
				if tt.strict {
					if !strings.Contains(uri, far.addr) {
						t.Errorf("%s Request-URI %s, want the strict router's", method, uri)
					}
				} else if uri != contact {
					t.Errorf("%s Request-URI %s, want the remote target %s", method, uri, contact)
				}
				if tag, _ := req.From().Params.Get("tag"); tag != "pbx-tag" {
					t.Errorf("%s From tag %q, want the PBX's", method, tag)
				}
				if tag, _ := req.To().Params.Get("tag"); tag != "far-tag" {
					t.Errorf("%s To tag %q, want the far party's", method, tag)
				}
				if req.CallID().Value() != "lean-1@example.com" {
					t.Errorf("%s Call-ID %q", method, req.CallID().Value())
				}
				if c := req.CSeq(); c.SeqNo != seq || c.MethodName != method {
					t.Errorf("%s CSeq %d %s, want %d %s", method, c.SeqNo, c.MethodName, seq, method)
				}
				if got := routeValues(req); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s Route %q, want %q", method, got, want)
				}
				if req.Contact() == nil || req.Contact().Address.Port != 5999 {
					t.Errorf("%s Contact %v, want the PBX's", method, req.Contact())
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			res, err := d.reinvite(ctx, []byte("v=0\r\n"))
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("re-INVITE: %v %v", res, err)
			}
			inv := far.next(t)
			check(inv, sip.INVITE, 8)
			if string(inv.Body()) != "v=0\r\n" || inv.ContentType() == nil {
				t.Errorf("re-INVITE body %q", inv.Body())
			}
			check(far.next(t), sip.ACK, 8)

			res, err = sendInDialog(ctx, d, sip.UPDATE, nil, []sip.Header{sip.NewHeader("Session-Expires", "1800;refresher=uac")})
			if err != nil || res.StatusCode != sip.StatusOK {
				t.Fatalf("UPDATE: %v %v", res, err)
			}
			upd := far.next(t)
			check(upd, sip.UPDATE, 9)
			if h := upd.GetHeader("Session-Expires"); h == nil {
				t.Error("UPDATE lost its headers")
			}

			if !d.established() {
				t.Fatal("dialog ended before its BYE")
			}
			if err := d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			check(far.next(t), sip.BYE, 10)
			if d.established() {
				t.Error("dialog still up after its BYE")
			}
			if err := d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-far.in:
				t.Error("a second BYE was sent")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestLeanDialogReadsBye: the far party's BYE is answered 200 and ends the
// dialog and the BYE's transaction; a BYE with a CSeq below the INVITE's is
// not for this dialog.
func TestLeanDialogReadsBye(t *testing.T) {
	d := &leanDialog{id: "x", uas: true, inviteCSeq: 7}
	bye := func(seq int) *sip.Request {
		return parseRequest(t, "BYE sip:100@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-b\n"+
			"From: <sip:bob@example.com>;tag=far-tag\nTo: <sip:100@example.com>;tag=pbx-tag\n"+
			"Call-ID: lean-1@example.com\nCSeq: "+fmt.Sprint(seq)+" BYE\nContent-Length: 0\n\n")
	}
	tx := &answerTx{}
	if err := d.readBye(bye(6), tx); err == nil || tx.res != nil {
		t.Fatalf("an earlier BYE was taken: %v, answered %v", err, tx.res)
	}
	if !d.established() {
		t.Fatal("an earlier BYE ended the dialog")
	}
	if err := d.readBye(bye(8), tx); err != nil {
		t.Fatal(err)
	}
	if tx.res == nil || tx.res.StatusCode != sip.StatusOK {
		t.Fatalf("BYE answered %v", tx.res)
	}
	if !tx.terminated {
		t.Error("the BYE's transaction outlives its 200")
	}
	if d.established() {
		t.Error("dialog up after the far party's BYE")
	}
}

// answerTx is a server transaction that keeps its response.
type answerTx struct {
	sip.ServerTransaction
	res        *sip.Response
	terminated bool
}

func (tx *answerTx) Respond(res *sip.Response) error { tx.res = res; return nil }

func (tx *answerTx) Terminate() { tx.terminated = true }

// TestLightenDropsSessions: once a leg's dialog is confirmed the call keeps
// its lean form and nothing of sipgo's session (nor its INVITE) stays
// reachable from the call; a leg not yet confirmed, or a call that ended,
// keeps its session.
func TestLightenDropsSessions(t *testing.T) {
	inv := func() *sip.Request {
		r := parseRequest(t, "INVITE sip:100@127.0.0.1:5999 SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\n"+
			"From: <sip:bob@example.com>;tag=far-tag\nTo: <sip:100@example.com>\n"+
			"Call-ID: lighten@example.com\nCSeq: 1 INVITE\nContact: <sip:bob@127.0.0.1:5062>\nContent-Length: 0\n\n")
		r.SetSource("127.0.0.1:5062")
		return r
	}
	ua := &sipgo.DialogUA{RewriteContact: true}
	uas := func(state sip.DialogState) func() dialog {
		return func() dialog {
			r := inv()
			s := &sipgo.DialogServerSession{Dialog: sipgo.Dialog{InviteRequest: r}}
			s.InitWithState(state)
			res := sip.NewResponseFromRequest(r, sip.StatusOK, "OK", nil)
			res.To().Params.Add("tag", "pbx-tag")
			s.InviteResponse = res
			s.ID, _ = sip.DialogIDFromResponse(res)
			return uasDialog{s: s, ua: ua}
		}
	}
	uac := func(state sip.DialogState) func() dialog {
		return func() dialog {
			r := inv()
			r.To().Params.Add("tag", "far-tag")
			s := &sipgo.DialogClientSession{Dialog: sipgo.Dialog{InviteRequest: r,
				InviteResponse: sip.NewResponseFromRequest(r, sip.StatusOK, "OK", nil)}, UA: ua}
			s.InitWithState(state)
			s.ID = "uac-id"
			return uacDialog{s: s}
		}
	}
	tests := []struct {
		name string
		// a and b make the legs' dialogs in the sub-test, so that nothing
		// but the call holds them.
		a, b      func() dialog
		ended     bool
		wantLeanA bool
		wantLeanB bool
	}{
		{name: "both confirmed", a: uas(sip.DialogStateConfirmed), b: uac(sip.DialogStateConfirmed), wantLeanA: true, wantLeanB: true},
		{name: "caller not yet acknowledged", a: uas(sip.DialogStateEstablished), b: uac(sip.DialogStateConfirmed), wantLeanB: true},
		{name: "caller hung up", a: uas(sip.DialogStateEnded), b: uac(sip.DialogStateConfirmed), wantLeanB: true},
		{name: "callee not yet acknowledged", a: uas(sip.DialogStateConfirmed), b: uac(sip.DialogStateEstablished), wantLeanA: true},
		{name: "call ended", a: uas(sip.DialogStateConfirmed), b: uac(sip.DialogStateConfirmed), ended: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Call{a: tt.a(), b: tt.b(), early: &earlyMedia{}}
			if tt.ended {
				c.state = call.StateEnded
			}
			freed := make(chan string, 4)
			watch := func(d dialog, name string) {
				switch d := d.(type) {
				case uasDialog:
					runtime.SetFinalizer(d.s, func(*sipgo.DialogServerSession) { freed <- name })
					runtime.SetFinalizer(d.s.InviteRequest, func(*sip.Request) { freed <- name + " invite" })
				case uacDialog:
					runtime.SetFinalizer(d.s, func(*sipgo.DialogClientSession) { freed <- name })
				}
			}
			watch(c.a, "caller")
			watch(c.b, "callee")
			c.lighten(true)
			c.lighten(false)
			_, leanA := c.a.(*leanDialog)
			_, leanB := c.b.(*leanDialog)
			if leanA != tt.wantLeanA || leanB != tt.wantLeanB {
				t.Fatalf("lean caller %v callee %v, want %v %v", leanA, leanB, tt.wantLeanA, tt.wantLeanB)
			}
			if tt.wantLeanA && c.early != nil {
				t.Error("the caller's early media is still held")
			}
			want := map[string]bool{}
			if tt.wantLeanA {
				want["caller"], want["caller invite"] = true, true
			}
			if tt.wantLeanB {
				want["callee"] = true
			}
			got := map[string]bool{}
			for deadline := time.Now().Add(2 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
				runtime.GC()
				select {
				case n := <-freed:
					got[n] = true
				case <-time.After(10 * time.Millisecond):
				}
			}
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
			for len(freed) > 0 {
				got[<-freed] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("freed %v, want %v", got, want)
			}
			runtime.KeepAlive(c)
		})
	}
}
