package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tortureExpect is the status the PBX answers each RFC 4475 message with
// (0: no answer, as for responses and for a datagram whose Content-Length
// exceeds it); tcp, when set, is the answer over TCP where it differs.
var tortureExpect = map[string]struct{ udp, tcp int }{
	// §3.1.1 valid messages
	// The REGISTER; over UDP the rest of the datagram is ignored, over TCP
	// the INVITE has no Contact and what follows it does not frame (400, close).
	"valid/dblreq":     {401, 400},
	"valid/esc01":      {407, 407},
	"valid/esc02":      {501, 501}, // RE%47IST%45R is not REGISTER
	"valid/escnull":    {401, 401},
	"valid/intmeth":    {501, 501},
	"valid/longreq":    {407, 407},
	"valid/lwsdisp":    {200, 200},
	"valid/mpart01":    {405, 405},
	"valid/noreason":   {0, 0},
	"valid/semiuri":    {200, 200},
	"valid/transports": {200, 200},
	"valid/unreason":   {0, 0},
	"valid/wsinv":      {400, 400}, // no From tag (RFC 3261 §8.1.1.3 requires one)
	// §3.1.2 invalid messages, §3.2 transaction layer, §3.3 application layer
	"invalid/badaspec":   {400, 400},
	"invalid/badbranch":  {200, 200},
	"invalid/baddate":    {407, 407},
	"invalid/baddn":      {400, 400},
	"invalid/badinv01":   {400, 400},
	"invalid/badvers":    {505, 505},
	"invalid/bcast":      {0, 0},
	"invalid/bext01":     {420, 420},
	"invalid/bigcode":    {0, 0},
	"invalid/clerr":      {0, 400},
	"invalid/cparam01":   {401, 401},
	"invalid/cparam02":   {401, 401},
	"invalid/escruri":    {400, 400},
	"invalid/insuf":      {400, 400},
	"invalid/inv2543":    {400, 400}, // RFC 2543 style: no Max-Forwards, no From tag
	"invalid/invut":      {415, 415},
	"invalid/ltgtruri":   {400, 400},
	"invalid/lwsruri":    {400, 400},
	"invalid/lwsstart":   {400, 400},
	"invalid/mcl01":      {400, 400},
	"invalid/mismatch01": {400, 400},
	"invalid/mismatch02": {400, 400},
	"invalid/multi01":    {400, 400},
	"invalid/ncl":        {400, 400},
	"invalid/novelsc":    {416, 416},
	"invalid/quotbal":    {400, 400},
	"invalid/regaut01":   {401, 401},
	"invalid/regbadct":   {401, 401},
	"invalid/regescrt":   {401, 401},
	"invalid/scalar02":   {400, 400},
	"invalid/scalarlg":   {0, 0},
	"invalid/sdp01":      {407, 407},
	"invalid/trws":       {400, 400},
	"invalid/unkscm":     {416, 416},
	"invalid/unksm2":     {400, 400},
	"invalid/zeromf":     {200, 200},
}

func tortureCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../../sip/testdata/torture/*/*.dat")
	if err != nil || len(files) == 0 {
		t.Fatalf("torture corpus: %v (%d files)", err, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), ".dat")
		out[name] = b
	}
	return out
}

// TestTortureCorpus replays the RFC 4475 torture messages over UDP and TCP
// against a running PBX and checks each answer, and that the PBX still
// answers an OPTIONS after each one.
func TestTortureCorpus(t *testing.T) {
	// One PBX per transport: a message replayed over TCP carries the branch
	// of its UDP twin and would be taken for its retransmission.
	p := startPBX(t, 60*time.Second)
	overTCP := startPBX(t, 60*time.Second)
	corpus := tortureCorpus(t)
	if len(corpus) != len(tortureExpect) {
		t.Fatalf("corpus has %d messages, expectations %d", len(corpus), len(tortureExpect))
	}
	// The messages' Via headers name no port and no rport, so answers go to
	// the source address on port 5060 (RFC 3261 §18.2.2, RFC 3581 §4).
	udp, err := net.ListenPacket("udp", "127.0.0.31:5060")
	if err != nil {
		t.Fatalf("the corpus needs 127.0.0.31:5060 to receive answers: %v", err)
	}
	defer udp.Close()
	server := net.UDPAddrFromAddrPort(p.sip)
	for name, want := range tortureExpect {
		msg := corpus[name]
		t.Run("udp/"+name, func(t *testing.T) {
			if _, err := udp.WriteTo(msg, server); err != nil {
				t.Fatal(err)
			}
			got := readStatusUDP(udp, callIDOf(msg), 700*time.Millisecond)
			if got != want.udp {
				t.Errorf("answer %d, want %d", got, want.udp)
			}
			assertAnswersOptions(t, udp, server)
		})
		t.Run("tcp/"+name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 32)}, Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", overTCP.sip.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The corpus was written for UDP; over TCP the Via must say so,
			// or the answer would be routed by the Via over UDP.
			msg := bytes.ReplaceAll(msg, []byte("SIP/2.0/UDP"), []byte("SIP/2.0/TCP"))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if name == "invalid/clerr" || !bytes.Contains(msg, []byte("\r\n\r\n")) {
				_ = c.(*net.TCPConn).CloseWrite() // the rest never comes
			}
			got := readStatusesTCP(c, want.tcp, 700*time.Millisecond)
			if (want.tcp == 0) != (len(got) == 0) || (want.tcp != 0 && !slices.Contains(got, want.tcp)) {
				t.Errorf("answers %v, want %d", got, want.tcp)
			}
			assertAnswersOptions(t, udp, net.UDPAddrFromAddrPort(overTCP.sip))
		})
	}
	for _, pbx := range []*pbx{p, overTCP} {
		if n := pbx.app.sip.Panics(); n != 0 {
			t.Fatalf("%d handler panics", n)
		}
	}
}

// callIDOf finds the Call-ID of a raw message, so answers to earlier
// messages are not mistaken for this one's.
func callIDOf(msg []byte) string {
	for _, l := range strings.Split(string(msg), "\r\n") {
		name, value, ok := strings.Cut(l, ":")
		if ok && (strings.EqualFold(strings.TrimSpace(name), "Call-ID") || strings.EqualFold(strings.TrimSpace(name), "i")) {
			return strings.TrimSpace(value)
		}
		if l == "" {
			break
		}
	}
	return ""
}

// readStatusUDP returns the status of the first answer carrying callID
// within d, or 0 when none comes.
func readStatusUDP(c net.PacketConn, callID string, d time.Duration) int {
	buf := make([]byte, 65535)
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return 0
		}
		if callID != "" && callIDOf(buf[:n]) != callID {
			continue
		}
		if code := statusOf(buf[:n]); code != 0 {
			return code
		}
	}
}

// readStatusesTCP returns the status of every answer that arrives within d,
// or up to the first one that is want.
func readStatusesTCP(c net.Conn, want int, d time.Duration) []int {
	_ = c.SetReadDeadline(time.Now().Add(d))
	r := bufio.NewReader(c)
	var out []int
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return out
		}
		if code := statusOf([]byte(line)); code != 0 {
			out = append(out, code)
			if code == want {
				return out
			}
		}
	}
}

func statusOf(b []byte) int {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

var optionsSeq int

func assertAnswersOptions(t testing.TB, c net.PacketConn, server net.Addr) {
	t.Helper()
	optionsSeq++
	callID := fmt.Sprintf("alive-%d-%d", time.Now().UnixNano(), optionsSeq)
	local := c.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-alive%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p%d\r\nTo: <sip:pbx.test>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", local, optionsSeq, local, optionsSeq, callID)
	if _, err := c.WriteTo([]byte(msg), server); err != nil {
		t.Fatal(err)
	}
	if got := readStatusUDP(c, callID, 2*time.Second); got != 200 {
		t.Fatalf("the PBX no longer answers OPTIONS (got %d)", got)
	}
}
