package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// rawPeer speaks SIP over a bare UDP socket, so a test sees every packet the
// PBX sends to an address, retransmissions included.
type rawPeer struct {
	t    *testing.T
	conn net.PacketConn
	pbx  netip.AddrPort
	cseq int
}

func newRawPeer(t *testing.T, p *pbx, ip string) *rawPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawPeer{t: t, conn: conn, pbx: p.sip}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// send sends a request from user to target (the To user; the request URI
// for INVITE) with an optional authorization header line.
func (r *rawPeer) send(method sip.RequestMethod, user, target, auth string) {
	r.t.Helper()
	r.cseq++
	local := r.conn.LocalAddr().String()
	uri := "sip:pbx.test"
	if method == sip.INVITE {
		uri = "sip:" + target + "@pbx.test"
	}
	lines := []string{
		fmt.Sprintf("%s %s SIP/2.0", method, uri),
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + randHex(8),
		"Max-Forwards: 70",
		"From: <sip:" + user + "@pbx.test>;tag=" + randHex(4),
		"To: <sip:" + target + "@pbx.test>",
		"Call-ID: " + randHex(12),
		fmt.Sprintf("CSeq: %d %s", r.cseq, method),
		"Contact: <sip:" + user + "@" + local + ">",
	}
	if auth != "" {
		lines = append(lines, auth)
	}
	lines = append(lines, "Content-Length: 0", "", "")
	if _, err := r.conn.WriteTo([]byte(strings.Join(lines, "\r\n")), net.UDPAddrFromAddrPort(r.pbx)); err != nil {
		r.t.Fatal(err)
	}
}

// collect returns every response that arrives within d.
func (r *rawPeer) collect(d time.Duration) []*sip.Response { return r.read(d, 0) }

// read returns the responses that arrive within d, or the first max of them
// (max 0: no limit).
func (r *rawPeer) read(d time.Duration, max int) []*sip.Response {
	r.t.Helper()
	var out []*sip.Response
	buf := make([]byte, 65535)
	deadline := time.Now().Add(d)
	for {
		_ = r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			return out
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			r.t.Fatalf("unparsable packet: %v\n%s", err, buf[:n])
		}
		if res, ok := msg.(*sip.Response); ok {
			out = append(out, res)
		}
		if max > 0 && len(out) == max {
			return out
		}
	}
}

// exchange sends a request and returns the one response it gets.
func (r *rawPeer) exchange(method sip.RequestMethod, user, target, auth string) *sip.Response {
	r.t.Helper()
	r.send(method, user, target, auth)
	res := r.read(2*time.Second, 1)
	if len(res) != 1 {
		r.t.Fatalf("%s from %s: no response", method, user)
	}
	return res[0]
}

// algorithms lists the algorithm of each challenge in a 401 or 407.
func algorithms(t *testing.T, res *sip.Response) []string {
	t.Helper()
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	var algs []string
	for _, h := range res.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		algs = append(algs, c.Algorithm)
	}
	return algs
}

// answer builds an Authorization line answering the first challenge of res.
func answer(t *testing.T, res *sip.Response, user, password string) string {
	t.Helper()
	c, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	cr, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:pbx.test", Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return "Authorization: " + cr.String()
}

// An INVITE without credentials, as from a forged source that never ACKs,
// gets exactly one 407: the challenge is sent statelessly, so timer G
// (500 ms, 1 s, 2 s, ...) retransmits nothing towards the address.
func TestChallengeIsNotRetransmitted(t *testing.T) {
	p := startPBX(t, 60*time.Second, defaultDigest)
	p.extension("4501", nil)
	tests := []struct {
		name   string
		method sip.RequestMethod
		code   int
	}{
		{"invite", sip.INVITE, 407},
		{"register", sip.REGISTER, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim := newRawPeer(t, p, "127.0.0.31")
			victim.send(tt.method, "4501", "4501", "")
			got := victim.collect(2500 * time.Millisecond) // past timer G's first three steps
			var codes []int
			for _, r := range got {
				codes = append(codes, r.StatusCode)
			}
			if len(got) != 1 || got[0].StatusCode != tt.code {
				t.Fatalf("responses %v, want exactly one %d", codes, tt.code)
			}
		})
	}
}

// With the default flags every challenge is MD5 alone; an extension with its
// own list is challenged and verified with it; unknown users and extensions
// on the default look the same.
func TestDigestAlgorithmsPerExtension(t *testing.T) {
	p := startPBX(t, 60*time.Second, defaultDigest)
	plain := p.extension("4601", nil)
	sha := p.extension("4602", map[string]any{"sip_digest_algorithms": []string{"SHA-256"}})
	both := p.extension("4603", map[string]any{"sip_digest_algorithms": []string{"SHA-256", "MD5"}})
	peer := newRawPeer(t, p, "127.0.0.34")
	tests := []struct {
		name   string
		method sip.RequestMethod
		user   string
		want   string
	}{
		{"register, default extension", sip.REGISTER, plain.Number, "MD5"},
		{"register, unknown user", sip.REGISTER, "9999", "MD5"},
		{"register, sha-256 extension", sip.REGISTER, sha.Number, "SHA-256"},
		{"register, sha-256 then md5", sip.REGISTER, both.Number, "SHA-256 MD5"},
		{"invite, default extension", sip.INVITE, plain.Number, "MD5"},
		{"invite, unknown user", sip.INVITE, "9999", "MD5"},
		{"invite, sha-256 extension", sip.INVITE, sha.Number, "SHA-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := peer.exchange(tt.method, tt.user, tt.user, "")
			if got := strings.Join(algorithms(t, res), " "); got != tt.want {
				t.Fatalf("challenge algorithms %q, want %q", got, tt.want)
			}
		})
	}
	// Registration through a real client: SHA-256 for the SHA-256
	// extension, and MD5 no longer accepted from it.
	if res := rawRegister(t, p, "127.0.0.35", sha.Number, sha.SIPPassword); res == nil || res.StatusCode != 200 {
		t.Fatalf("sha-256 extension: %v", res)
	}
	md5Nonce := peer.exchange(sip.REGISTER, "9999", plain.Number, "") // an MD5 challenge to this address
	if res := peer.exchange(sip.REGISTER, sha.Number, sha.Number, answer(t, md5Nonce, sha.Number, sha.SIPPassword)); res.StatusCode != 401 {
		t.Fatalf("md5 answer from a sha-256 extension: %d", res.StatusCode)
	}
	// null gives the extension back to the server's algorithms.
	if code := p.call("PATCH", "/v1/extensions/"+sha.ID, map[string]any{"sip_digest_algorithms": nil}, nil); code != 200 {
		t.Fatalf("clear: %d", code)
	}
	if got := algorithms(t, peer.exchange(sip.REGISTER, sha.Number, sha.Number, "")); len(got) != 1 || got[0] != "MD5" {
		t.Fatalf("after clearing: %v", got)
	}

	// The flag offers SHA-256 to everybody, in the order given.
	q := startPBX(t, 60*time.Second, func(c *serveCmd) { c.Digest = []string{"SHA-256", "MD5"} })
	if got := algorithms(t, newRawPeer(t, q, "127.0.0.36").exchange(sip.REGISTER, "9999", "9999", "")); strings.Join(got, " ") != "SHA-256 MD5" {
		t.Fatalf("--digest-algorithms SHA-256,MD5: %v", got)
	}
}

// Credentials on a nonce issued to another address are challenged again and
// never count as failures: forged packets cannot get an address banned. A
// wrong password on a nonce issued to the same address does count.
func TestForeignNonceIsNoFailure(t *testing.T) {
	p := startPBX(t, 60*time.Second, defaultDigest)
	e := p.extension("4701", nil)
	phone := newRawPeer(t, p, "127.0.0.37")
	forger := newRawPeer(t, p, "127.0.0.38")
	for i := range 15 { // more than the guard allows (10)
		ch := phone.exchange(sip.REGISTER, e.Number, e.Number, "")
		res := forger.exchange(sip.REGISTER, e.Number, e.Number, answer(t, ch, e.Number, "wrong-password"))
		if res.StatusCode != 401 {
			t.Fatalf("attempt %d with a nonce of another address: %d, want a fresh 401", i, res.StatusCode)
		}
	}
	var bans struct{ Items []struct{ IP string } }
	p.call("GET", "/v1/security/bans", nil, &bans)
	if len(bans.Items) != 0 {
		t.Fatalf("bans after foreign nonces: %+v", bans)
	}
	if res := rawRegister(t, p, "127.0.0.38", e.Number, e.SIPPassword); res == nil || res.StatusCode != 200 {
		t.Fatalf("the forger's address can still register: %v", res)
	}
	// Wrong passwords on the address's own nonces are counted and banned.
	var codes []int
	for range 10 {
		ch := forger.exchange(sip.REGISTER, e.Number, e.Number, "")
		forger.send(sip.REGISTER, e.Number, e.Number, answer(t, ch, e.Number, "wrong-password"))
		res := forger.read(time.Second, 1)
		if len(res) == 0 {
			codes = append(codes, 0)
			continue
		}
		codes = append(codes, res[0].StatusCode)
	}
	if codes[8] != 401 || codes[9] != 403 {
		t.Fatalf("wrong passwords on own nonces: %v", codes)
	}
}
