package main

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fuzzTarget is one PBX per fuzzing process, with an extension, an IP trunk
// on the fuzzer's own address and a number routed to the extension, so
// inputs reach the registrar, inbound routing and the B2BUA with the store
// and media behind them.
type fuzzTarget struct {
	p    *pbx
	udp  net.PacketConn
	sent int
}

const fuzzSource = "127.0.0.41"

// maxDatagram is the largest UDP payload over IPv4 (65,535 - 20 - 8).
const maxDatagram = 65507

// startFuzzTarget starts the target of one run of the fuzz test (a fuzzing
// worker process runs it once; -count=N runs it N times, each with its own
// PBX, as the cleanup of a run stops that run's PBX).
func startFuzzTarget(f *testing.F) *fuzzTarget {
	p := startPBX(f, 5*time.Second)
	desk := p.extension("1001", map[string]any{"sip_password": "fuzz-password-1001"})
	var trunk struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "fuzz carrier", "host": fuzzSource, "auth_mode": "ip",
		"allowed_cidrs": []string{fuzzSource + "/32"}}, &trunk); code != 201 {
		f.Fatalf("create trunk: %d", code)
	}
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550100", "trunk_id": trunk.ID,
		"route": map[string]any{"type": "extension", "extension_id": desk.ID}}, nil); code != 201 {
		f.Fatalf("create number: %d", code)
	}
	udp, err := net.ListenPacket("udp", fuzzSource+":0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { udp.Close() })
	go drain(udp)
	// The trunk's network is allowed, so the flood limit does not
	// throttle the fuzzer before its inputs reach the handlers.
	if !eventually(5*time.Second, func() bool { return p.app.sip.Guard.Allowed(netip.MustParseAddr(fuzzSource)) }) {
		f.Fatal("the trunk network is not allowed")
	}
	return &fuzzTarget{p: p, udp: udp}
}

func drain(c net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return
		}
	}
}

// FuzzSIPEntry sends raw bytes to a running PBX over UDP (and every fourth
// input over TCP too): nothing may panic a handler, and the PBX must keep
// answering. Seeded with the RFC 4475 torture messages.
//
//	go test -run '^$' -fuzz FuzzSIPEntry -fuzztime 10m -fuzzminimizetime 100x ./cmd/dialtone
//
// Coverage of a running server is not deterministic (its goroutines run
// beside the input), so minimising new inputs by time stalls fuzzing; bound
// it by count.
func FuzzSIPEntry(f *testing.F) {
	for _, msg := range tortureCorpus(f) {
		f.Add(msg)
	}
	for _, msg := range fuzzSeeds() {
		f.Add([]byte(msg))
	}
	ft := startFuzzTarget(f)
	server := net.UDPAddrFromAddrPort(ft.p.sip)
	f.Cleanup(func() {
		// Handlers run after the input was sent: look once more at the end.
		time.Sleep(500 * time.Millisecond)
		if n := ft.p.app.sip.Panics(); n != 0 {
			f.Errorf("%d handler panics (see the log for the stack)", n)
		}
		assertAlive(f, ft.p)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		// A datagram carries at most 65,507 bytes of IPv4 payload; a longer
		// input is sent whole over TCP only.
		if len(data) <= maxDatagram {
			if _, err := ft.udp.WriteTo(data, server); err != nil {
				t.Fatal(err)
			}
		}
		if len(data) > 0 && (len(data)%4 == 0 || len(data) > maxDatagram) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fuzzSource)}, Timeout: time.Second}
			if c, err := d.Dial("tcp", ft.p.sip.String()); err == nil {
				_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
				// Two writes split where the input says, so framing across
				// reads is fuzzed too.
				cut := int(data[0]) % len(data)
				_, _ = c.Write(data[:cut])
				_, _ = c.Write(data[cut:])
				_, _ = c.Read(make([]byte, 512))
				c.Close()
			}
		}
		ft.sent++
		if n := ft.p.app.sip.Panics(); n != 0 {
			t.Fatalf("%d handler panics (see the log for the stack)", n)
		}
		if ft.sent%500 == 0 {
			assertAlive(t, ft.p)
		}
	})
}

// assertAlive checks the PBX still answers OPTIONS from a fresh source.
func assertAlive(t testing.TB, p *pbx) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.43:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	assertAnswersOptions(t, c, net.UDPAddrFromAddrPort(p.sip))
}

// fuzzSeeds are well-formed requests that reach deep paths: a call from
// the trunk to the number (with SDP), a REGISTER with credentials, in-dialog
// requests that match nothing.
func fuzzSeeds() []string {
	huge := "OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.41;branch=z9hG4bK-huge\r\nMax-Forwards: 70\r\n" +
		"From: <sip:a@127.0.0.41>;tag=1\r\nTo: <sip:pbx.test>\r\nCall-ID: huge\r\nCSeq: 1 OPTIONS\r\n" +
		"Content-Length: 9223372036854775807\r\n\r\n"
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.41\r\ns=-\r\nc=IN IP4 127.0.0.41\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
	head := func(method, uri, extra string, body string) string {
		ct := ""
		if body != "" {
			ct = "Content-Type: application/sdp\r\n"
		}
		return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.41:5099;branch=z9hG4bK-seed-%s;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:+12125550123@127.0.0.41>;tag=seed\r\nTo: <sip:+14155550100@pbx.test>%s\r\nCall-ID: seed-%s@127.0.0.41\r\n"+
			"CSeq: 1 %s\r\nContact: <sip:+12125550123@127.0.0.41:5099>\r\n%sContent-Length: %d\r\n\r\n%s",
			method, uri, method, extra, method, method, ct, len(body), body)
	}
	return []string{
		huge,
		head("INVITE", "sip:+14155550100@pbx.test", "", sdp),
		head("INVITE", "sip:+14155550100@pbx.test", "", ""),
		head("REGISTER", "sip:pbx.test", "", ""),
		head("BYE", "sip:+14155550100@pbx.test", ";tag=nope", ""),
		head("ACK", "sip:+14155550100@pbx.test", ";tag=nope", ""),
		head("CANCEL", "sip:+14155550100@pbx.test", "", ""),
		head("INVITE", "sip:+14155550100@pbx.test", ";tag=nope", sdp),
		head("OPTIONS", "sip:pbx.test", "", ""),
		head("SUBSCRIBE", "sip:1001@pbx.test", "", ""),
	}
}
