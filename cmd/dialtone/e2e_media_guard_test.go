package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// narrowRTP keeps the first 40 ports (20 legs) of the range startPBX picked,
// so a test can reach every one of them cheaply; lo and hi receive it.
func narrowRTP(lo, hi *int) func(*serveCmd) {
	return func(c *serveCmd) {
		from, _, _ := strings.Cut(c.RTPPorts, "-")
		*lo, _ = strconv.Atoi(from)
		*hi = *lo + 39
		c.RTPPorts = fmt.Sprintf("%d-%d", *lo, *hi)
	}
}

// sprayedPBXIP is the loopback address of the PBX whose RTP range is sprayed.
const sprayedPBXIP = "127.0.0.84"

// spray sends RTP carrying a tone of freq from conn to every port of
// [lo, hi] on host until ctx ends: one SSRC per port, consecutive sequence
// numbers, a packet every 20 ms, so each port sees what a well-formed phone
// stream looks like. It returns the packets sent.
func spray(ctx context.Context, conn *net.UDPConn, host netip.Addr, lo, hi int, freq float64) int {
	tone := &mediatest.Tone{Freq: freq, Amplitude: 8000}
	pcm := make([]int16, 160)
	pkt := make([]byte, 12+160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for i := 0; ; i++ {
		tone.Fill(pcm)
		codec.Encode(codec.PCMU, pcm, pkt[12:])
		for port := lo; port <= hi; port++ {
			pkt[0], pkt[1] = 0x80, 0
			binary.BigEndian.PutUint16(pkt[2:], uint16(1000+i))
			binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
			binary.BigEndian.PutUint32(pkt[8:], 0x5e000000|uint32(port))
			if _, err := conn.WriteToUDPAddrPort(pkt, netip.AddrPortFrom(host, uint16(port))); err == nil {
				sent++
			}
		}
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
	}
}

func TestMediaGuardSprayIsNotRelayed(t *testing.T) {
	var lo, hi int
	// The PBX, and so its RTP ports, are on an address of their own: the
	// spray reaches the PBX's ports and never a test phone's (or another
	// test's) socket that happens to hold a port of the same numbers.
	p := startPBX(t, 60*time.Second, narrowRTP(&lo, &hi), func(c *serveCmd) { c.SIP = sprayedPBXIP + ":0" })
	a := p.extension("8100", nil)
	b := p.extension("8101", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)

	// Another host (127.0.0.77) sprays a 2600 Hz tone at every port of the
	// RTP range, odd and even, for four seconds.
	const sprayHz = 2600
	attacker, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 77)})
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	sctx, stop := context.WithTimeout(ctx, 4*time.Second)
	defer stop()
	start := time.Now()
	outBefore, inBefore := out.PacketsReceived(), in.PacketsReceived()
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sent = spray(sctx, attacker, p.sip.Addr(), lo, hi, sprayHz) }()

	// Once a second of the spray has reached the range, each phone keeps
	// hearing the other and never the spray.
	time.Sleep(1200 * time.Millisecond)
	for sctx.Err() == nil {
		switch {
		case out.Hears(sprayHz) || in.Hears(sprayHz):
			t.Fatalf("a phone hears the spray (caller %v, callee %v)", out.Hears(sprayHz), in.Hears(sprayHz))
		case !out.Hears(1400):
			t.Fatal("during the spray the caller stopped hearing the callee")
		case !in.Hears(600):
			t.Fatal("during the spray the callee stopped hearing the caller")
		}
		time.Sleep(250 * time.Millisecond)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if sent < 40*100 {
		t.Fatalf("the spray sent only %d packets", sent)
	}
	// Each phone receives only the other's stream: at most one packet per
	// 20 ms of the test (plus what was queued), never the spray's 2000 a second.
	ceiling := int(elapsed/(20*time.Millisecond)) + 25
	if got := out.PacketsReceived() - outBefore; got > ceiling {
		t.Fatalf("the caller received %d packets in %s (at most %d from the callee)", got, elapsed, ceiling)
	}
	if got := in.PacketsReceived() - inBefore; got > ceiling {
		t.Fatalf("the callee received %d packets in %s (at most %d from the caller)", got, elapsed, ceiling)
	}
	if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
		t.Fatal("the parties no longer hear each other after the spray")
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.HangupCause != "normal_clearing" {
		t.Fatalf("record: %+v", rec)
	}
}

// rawPhone is a bare SIP user agent on its own loopback socket, for INVITEs
// and answers carrying SDP a test phone would never send.
type rawPhone struct {
	t       *testing.T
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	dialog  *sipgo.DialogUA
	contact sip.ContactHeader
	user    string
	pass    string
}

func newRawPhone(t *testing.T, e extension) *rawPhone {
	t.Helper()
	const ip = "127.0.0.1"
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname(ip))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	dsipServe(ua, srv, conn)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	r := &rawPhone{t: t, ua: ua, srv: srv, user: e.Number, pass: e.SIPPassword,
		contact: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: e.Number, Host: ip, Port: port}}}
	r.dialog = &sipgo.DialogUA{Client: client, ContactHDR: r.contact}
	t.Cleanup(func() {
		_ = srv.Close()
		_ = conn.Close()
		_ = ua.Close()
	})
	return r
}

// offerTo is an SDP offer (PCMU) with media at addr.
func offerTo(addr netip.AddrPort) []byte {
	return sdp.Local{Addr: addr, Codecs: []codec.Codec{codec.PCMU}, DTMF: 101, Direction: sdp.SendRecv, SessionID: 7, Version: 1}.Marshal()
}

// invite places a call to number with body as the offer and returns the
// final response.
func (r *rawPhone) invite(ctx context.Context, p *pbx, number string, body []byte) (*sip.Response, error) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: number, Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: r.user, Host: "pbx.test"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: "pbx.test"}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	sess, err := r.dialog.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: r.user, Password: r.pass})
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res, nil
	}
	if err != nil {
		return nil, err
	}
	_ = sess.Ack(ctx)
	time.Sleep(100 * time.Millisecond) // the ACK is handled before the BYE
	_ = sess.Bye(ctx)
	return sess.InviteResponse, nil
}

func TestMediaGuardRefusesOffersAtUnusableAddresses(t *testing.T) {
	var lo, hi int
	p := startPBX(t, 60*time.Second, narrowRTP(&lo, &hi))
	a := p.extension("8200", nil)
	b := p.extension("8201", nil)
	c := p.extension("8202", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	// A live call: the PBX's offer to the callee names one of its RTP ports.
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
	pbxOffer, err := sdp.Parse(in.Invite().Body())
	if err != nil {
		t.Fatal(err)
	}
	livePort := pbxOffer.Addr
	freePort := netip.AddrPortFrom(p.sip.Addr(), uint16(lo))
	if freePort == livePort {
		freePort = netip.AddrPortFrom(p.sip.Addr(), uint16(lo+2))
	}

	raw := newRawPhone(t, c)
	tests := []struct {
		name   string
		addr   netip.AddrPort
		reason string
	}{
		{"the RTP port of a live call", livePort, "address of the pbx itself"},
		{"a port of the PBX's RTP range", freePort, "address of the pbx itself"},
		{"the PBX's SIP port", p.sip, "address of the pbx itself"},
		{"unspecified", netip.MustParseAddrPort("0.0.0.0:40000"), "unspecified address"},
		{"multicast", netip.MustParseAddrPort("224.0.0.1:40000"), "multicast address"},
		{"limited broadcast", netip.MustParseAddrPort("255.255.255.255:40000"), "broadcast address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := raw.invite(ctx, p, b.Number, offerTo(tt.addr))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 488 {
				t.Fatalf("got %d %s, want 488", res.StatusCode, res.Reason)
			}
			w := res.GetHeader("Warning")
			if w == nil || !strings.HasPrefix(w.Value(), "305 ") ||
				!strings.Contains(w.Value(), "media address not acceptable: "+tt.reason) {
				t.Fatalf("Warning: %v", w)
			}
			rec := p.lastRecord()
			if rec.Disposition != "failed" || rec.HangupCause != "incompatible_media" || rec.AnsweredAt != nil {
				t.Fatalf("record: %+v", rec)
			}
		})
	}
	// The live call went on untouched, and a sound offer is still answered.
	if !out.Hears(1400) || !in.Hears(600) {
		t.Fatal("the live call lost its audio")
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)
	res, err := raw.invite(ctx, p, b.Number, offerTo(netip.MustParseAddrPort("127.0.0.1:9")))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("a sound offer: %v %v", res, err)
	}
}

// register binds the raw phone to its extension (answering the challenge).
func (r *rawPhone) register(ctx context.Context, p *pbx) {
	r.t.Helper()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
	aor := sip.Uri{Scheme: "sip", User: r.user, Host: "pbx.test"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(sip.HeaderClone(&r.contact))
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	res, err := r.dialog.Client.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized {
		res, err = r.dialog.Client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.user, Password: r.pass})
	}
	if err != nil || res.StatusCode != 200 {
		r.t.Fatalf("register %s: %v %v", r.user, res, err)
	}
}

// answerWith makes the raw phone answer every call at once with body. The
// returned channel gets one value per BYE it receives.
func (r *rawPhone) answerWith(body []byte) <-chan struct{} {
	byes := make(chan struct{}, 8)
	dsc := sipgo.NewDialogServerCache(r.dialog.Client, r.contact)
	r.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		dlg, err := dsc.ReadInvite(req, tx)
		if err != nil {
			return
		}
		defer dlg.Close()
		if err := dlg.RespondSDP(body); err != nil {
			return
		}
		<-dlg.Context().Done() // until the BYE
	})
	r.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = dsc.ReadAck(req, tx) })
	r.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if dsc.ReadBye(req, tx) == nil {
			byes <- struct{}{}
		}
	})
	return byes
}

func TestMediaGuardRefusesAnswersAtUnusableAddresses(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	caller := p.phone(p.extension("8300", nil), 600, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(30 * time.Second)
	defer cancel()

	t.Run("the next fork answers", func(t *testing.T) {
		b := p.extension("8301", nil)
		bad := newRawPhone(t, b)
		byes := bad.answerWith(offerTo(netip.MustParseAddrPort("224.0.0.1:40000")))
		bad.register(ctx, p)
		// The extension's other phone answers after the bad one.
		good, err := siptest.New(siptest.Config{User: b.Number, Password: b.SIPPassword, Domain: "pbx.test", PBX: p.sip,
			ToneHz: 1400, Answer: siptest.AnswerNow, RingFor: 600 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer good.Close()
		if res, err := good.Register(ctx, 300); err != nil || res.StatusCode != 200 {
			t.Fatalf("register: %v %v", res, err)
		}
		out, in := connect(t, ctx, caller, b.Number, good, 1400, 600)
		select {
		case <-byes:
		case <-time.After(5 * time.Second):
			t.Fatal("the phone that answered with a multicast address was not hung up")
		}
		if err := out.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		waitHungUp(t, in)
		if rec := p.lastRecord(); rec.Disposition != "answered" {
			t.Fatalf("record: %+v", rec)
		}
	})

	t.Run("no other fork", func(t *testing.T) {
		b := p.extension("8302", nil)
		bad := newRawPhone(t, b)
		byes := bad.answerWith(offerTo(p.sip)) // the PBX's own SIP port
		bad.register(ctx, p)
		_, err := caller.Dial(ctx, b.Number)
		var de *siptest.DialError
		if !errors.As(err, &de) || de.Code != 488 {
			t.Fatalf("dial: %v, want 488", err)
		}
		select {
		case <-byes:
		case <-time.After(5 * time.Second):
			t.Fatal("the phone that answered with the PBX's address was not hung up")
		}
		if rec := p.lastRecord(); rec.Disposition != "failed" || rec.HangupCause != "incompatible_media" || rec.HangupBy != "system" {
			t.Fatalf("record: %+v", rec)
		}
	})
}

func TestMediaTimeoutOnOneSilentParty(t *testing.T) {
	p := startPBX(t, 2*time.Second)
	a := p.extension("8400", nil)
	b := p.extension("8401", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(30 * time.Second)
	defer cancel()

	// Held: the callee is offered sendonly and answers recvonly, so its
	// silence is expected; the call outlives the media timeout.
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
	if err := out.Hold(ctx, true); err != nil {
		t.Fatal(err)
	}
	in.SetSilent(true)
	select {
	case <-out.HungUp():
		t.Fatal("a held call was hung up for the held party's silence")
	case <-time.After(4 * time.Second):
	}
	if err := out.Hold(ctx, false); err != nil {
		t.Fatal(err)
	}
	in.SetSilent(false)
	if !out.WaitHears(ctx, 1400) {
		t.Fatal("no audio after resume")
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)

	// The callee goes silent while the caller keeps talking: hung up.
	out, in = connect(t, ctx, caller, b.Number, callee, 1400, 600)
	in.SetSilent(true)
	select {
	case <-out.HungUp():
	case <-time.After(10 * time.Second):
		t.Fatal("a call with one silent party was not hung up")
	}
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.HangupCause != "media_timeout" || rec.HangupBy != "system" || rec.Disposition != "answered" {
		t.Fatalf("record: %+v", rec)
	}
}
