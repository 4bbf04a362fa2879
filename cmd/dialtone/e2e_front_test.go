package main

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestRegisterManyContactsOverUDP: the 200 to a REGISTER binding five long
// contacts is larger than an Ethernet MTU and still reaches the phone.
func TestRegisterManyContactsOverUDP(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	e := p.extension("4101", nil)
	var contacts []sip.Uri
	for i := range 5 {
		u := sip.Uri{Scheme: "sip", User: fmt.Sprintf("4101-%d-%s", i, strings.Repeat("x", 200)), Host: "127.0.0.1", Port: 5070 + i}
		contacts = append(contacts, u)
	}
	res := rawRegister(t, p, "127.0.0.1", e.Number, e.SIPPassword, contacts...)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("register: %v", res)
	}
	if n := len(res.GetHeaders("Contact")); n != 5 {
		t.Fatalf("200 lists %d contacts, want 5", n)
	}
	if size := len(res.String()); size <= 1500 {
		t.Fatalf("the 200 is %d bytes: not larger than the MTU, so it proves nothing", size)
	}
}

// TestUnauthenticatedFloodIsBanned: a source flooding unauthenticated
// OPTIONS is throttled, then banned with reason flood (listed over the API,
// a security.ip_banned event); registered phones elsewhere keep calling.
func TestUnauthenticatedFloodIsBanned(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	ann, bo := p.extension("4201", nil), p.extension("4202", nil)
	caller := p.phone(ann, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(bo, 1400, siptest.AnswerNow, "PCMU")

	flooder, err := net.ListenPacket("udp", "127.0.0.44:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	server := net.UDPAddrFromAddrPort(p.sip)
	var answered atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := flooder.ReadFrom(buf)
			if err != nil {
				return
			}
			if statusOf(buf[:n]) != 0 {
				answered.Add(1)
			}
		}
	}()
	local := flooder.LocalAddr().String()
	for i := range 3000 {
		msg := fmt.Sprintf("OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-flood%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:x@%s>;tag=f%d\r\nTo: <sip:pbx.test>\r\nCall-ID: flood-%d\r\nCSeq: 1 OPTIONS\r\n"+
			"Content-Length: 0\r\n\r\n", local, i, local, i, i)
		if _, err := flooder.WriteTo([]byte(msg), server); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond) // loopback drops bursts beyond its buffers
		}
	}
	var bans struct{ Items []struct{ IP, Reason string } }
	if !eventually(5*time.Second, func() bool {
		bans.Items = nil
		p.call("GET", "/v1/security/bans", nil, &bans)
		return len(bans.Items) == 1
	}) {
		t.Fatalf("bans: %+v", bans)
	}
	if b := bans.Items[0]; b.IP != "127.0.0.44" || b.Reason != "flood" {
		t.Fatalf("ban %+v", b)
	}
	if n := answered.Load(); n == 0 || n > 600 {
		t.Fatalf("%d of 3000 flood requests answered: want the burst answered and the rest throttled", n)
	}
	var hist struct {
		Items []struct {
			Type string
			Data struct{ IP, Reason string }
		}
	}
	p.call("GET", "/v1/events/history?types=security.*&limit=10", nil, &hist)
	if len(hist.Items) != 1 || hist.Items[0].Data.IP != "127.0.0.44" || hist.Items[0].Data.Reason != "flood" {
		t.Fatalf("security events: %+v", hist.Items)
	}
	// Banned: no answer any more, not even to a well-formed request.
	before := answered.Load()
	assertNoAnswer := func() {
		msg := fmt.Sprintf("OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-after;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:x@%s>;tag=a\r\nTo: <sip:pbx.test>\r\nCall-ID: after\r\nCSeq: 1 OPTIONS\r\n"+
			"Content-Length: 0\r\n\r\n", local, local)
		_, _ = flooder.WriteTo([]byte(msg), server)
		time.Sleep(300 * time.Millisecond)
	}
	assertNoAnswer()
	if answered.Load() != before {
		t.Fatal("a banned source was answered")
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	out, _ := connect(t, ctx, caller, bo.Number, callee, 1400, 600)
	_ = out.Hangup(ctx)
}
