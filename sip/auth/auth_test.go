package auth

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func answer(t *testing.T, challenge, user, pw string, count int) string {
	t.Helper()
	ch, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: "sip:pbx.test", Username: user, Password: pw, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	return cr.String()
}

// lookup knows 1001 (server algorithms), 1002 (SHA-256 only) and 1003 (SHA-256, then MD5).
func lookup(u string) (User, bool) {
	switch u {
	case "1001":
		return User{Password: "right-password"}, true
	case "1002":
		return User{Password: "right-password", Algorithms: []string{SHA256}}, true
	case "1003":
		return User{Password: "right-password", Algorithms: []string{SHA256, MD5}}, true
	}
	return User{}, false
}

func TestDefaultAlgorithmsAreMD5Only(t *testing.T) {
	d := NewDigest("pbx.test", nil, time.Minute, nil)
	chs := d.Challenge(netip.MustParseAddr("192.0.2.1"), nil, false)
	if len(chs) != 1 || !strings.Contains(chs[0], "algorithm=MD5") || !strings.Contains(chs[0], `qop="auth"`) {
		t.Fatalf("default challenge: %v", chs)
	}
}

func TestChallengeOrder(t *testing.T) {
	d := NewDigest("pbx.test", []string{SHA256, MD5}, time.Minute, nil)
	src := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name string
		algs []string
		want []string
	}{
		{"server list", nil, []string{SHA256, MD5}},
		{"user list", []string{MD5}, []string{MD5}},
		{"user order", []string{MD5, SHA256}, []string{MD5, SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chs := d.Challenge(src, tt.algs, false)
			if len(chs) != len(tt.want) {
				t.Fatalf("challenges %v, want %v", chs, tt.want)
			}
			for i, c := range chs {
				ch, err := digest.ParseChallenge(c)
				if err != nil || ch.Algorithm != tt.want[i] || ch.Stale {
					t.Fatalf("challenge %d: %q (%v), want %s", i, c, err, tt.want[i])
				}
			}
		})
	}
	if ch, _ := digest.ParseChallenge(d.Challenge(src, nil, true)[0]); !ch.Stale {
		t.Fatal("stale challenge without stale=true")
	}
}

func TestCheck(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	phone := netip.MustParseAddr("192.0.2.10")
	victim := netip.MustParseAddr("198.51.100.7")
	d := NewDigest("pbx.test", nil, 5*time.Minute, c.now)
	both := NewDigest("pbx.test", []string{MD5, SHA256}, 5*time.Minute, c.now)
	restarted := NewDigest("pbx.test", nil, 5*time.Minute, c.now) // another key: an earlier run
	ch := func(d *Digest, src netip.Addr, algs ...string) string { return d.Challenge(src, algs, false)[0] }
	forged := func() string {
		// A nonce of the right shape whose signature this process never made.
		chal, _ := digest.ParseChallenge(ch(d, phone))
		b, _ := base64.RawURLEncoding.DecodeString(chal.Nonce)
		b[len(b)-1] ^= 1
		chal.Nonce = base64.RawURLEncoding.EncodeToString(b)
		return answer(t, chal.String(), "1001", "right-password", 1)
	}
	mapped := netip.AddrFrom16(phone.As16()) // ::ffff:192.0.2.10, the same address
	tests := []struct {
		name   string
		d      *Digest
		src    netip.Addr
		header func() string
		want   Outcome
	}{
		{"no credentials", d, phone, func() string { return "" }, Missing},
		{"other realm", d, phone, func() string {
			return `Digest username="1001", realm="elsewhere", nonce="x", uri="sip:x", response="00"`
		}, Missing},
		{"unparsable", d, phone, func() string { return "Basic dXNlcjpwdw==" }, Missing},
		{"md5", d, phone, func() string { return answer(t, ch(d, phone), "1001", "right-password", 1) }, OK},
		{"ipv4-mapped source", d, mapped, func() string { return answer(t, ch(d, phone), "1001", "right-password", 1) }, OK},
		{"sha-256 offered by the server", both, phone, func() string { return answer(t, ch(both, phone, SHA256), "1001", "right-password", 1) }, OK},
		{"sha-256 not offered by the server", d, phone, func() string { return answer(t, ch(d, phone, SHA256), "1001", "right-password", 1) }, Failed},
		{"sha-256 user", d, phone, func() string { return answer(t, ch(d, phone, SHA256), "1002", "right-password", 1) }, OK},
		{"md5 answer from a sha-256 user", d, phone, func() string { return answer(t, ch(d, phone), "1002", "right-password", 1) }, Failed},
		{"md5 answer from a sha-256+md5 user", d, phone, func() string { return answer(t, ch(d, phone), "1003", "right-password", 1) }, OK},
		{"wrong password", d, phone, func() string { return answer(t, ch(d, phone), "1001", "wrong", 1) }, Failed},
		{"unknown user", d, phone, func() string { return answer(t, ch(d, phone), "9999", "right-password", 1) }, Failed},
		{"no qop", d, phone, func() string {
			return strings.Replace(answer(t, ch(d, phone), "1001", "right-password", 1), "qop=auth", "qop=none", 1)
		}, Failed},
		// None of these can be told from a forged packet: a fresh challenge, never a failure.
		{"nonce issued to another address", d, victim, func() string { return answer(t, ch(d, phone), "1001", "wrong", 1) }, Foreign},
		{"right password, nonce of another address", d, victim, func() string { return answer(t, ch(d, phone), "1001", "right-password", 1) }, Foreign},
		{"nonce bound to no address", d, phone, func() string { return answer(t, d.Challenges(false)[0], "1001", "wrong", 1) }, Foreign},
		{"forged nonce", d, phone, forged, Foreign},
		{"garbage nonce", d, phone, func() string {
			return `Digest username="1001", realm="pbx.test", nonce="!!", uri="sip:x", response="00", qop=auth, nc=00000001, cnonce="c"`
		}, Foreign},
		{"nonce from before a restart", d, phone, func() string { return answer(t, ch(restarted, phone), "1001", "wrong", 1) }, Foreign},
		{"unknown user, foreign nonce", d, victim, func() string { return answer(t, ch(d, phone), "9999", "x", 1) }, Foreign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Check(Request{Method: "REGISTER", Header: tt.header(), Source: tt.src}, lookup)
			if got.Outcome != tt.want {
				t.Fatalf("outcome %v, want %v", got.Outcome, tt.want)
			}
		})
	}
}

func TestCheckNonceLifetime(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	src := netip.MustParseAddr("2001:db8::1")
	d := NewDigest("pbx.test", nil, 5*time.Minute, c.now)
	md := d.Challenge(src, nil, false)[0]
	steps := []struct {
		name    string
		advance time.Duration
		pw      string
		count   int
		want    Outcome
	}{
		{"first use", 0, "right-password", 1, OK},
		{"next nonce count", 0, "right-password", 2, OK},
		{"replayed nonce count", 0, "right-password", 2, Stale},
		{"wrong password", 0, "wrong", 3, Failed},
		{"expired nonce", 6 * time.Minute, "right-password", 9, Stale},
		{"expired nonce, wrong password", 0, "wrong", 10, Failed},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			c.t = c.t.Add(s.advance)
			got := d.Check(Request{Method: "REGISTER", Header: answer(t, md, "1001", s.pw, s.count), Source: src}, lookup)
			if got.Outcome != s.want || got.Username != "1001" {
				t.Fatalf("outcome %v for %q, want %v", got.Outcome, got.Username, s.want)
			}
		})
	}
}

// Verify and Challenges serve a peer that does not bind nonces to addresses.
func TestVerifyUnbound(t *testing.T) {
	d := NewDigest("pbx.test", nil, 5*time.Minute, nil)
	users := func(u string) (string, bool) { return "right-password", u == "1001" }
	tests := []struct {
		name string
		pw   string
		want Outcome
	}{
		{"right", "right-password", OK},
		{"wrong", "wrong", Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Verify("REGISTER", answer(t, d.Challenges(false)[0], "1001", tt.pw, 1), users); got.Outcome != tt.want {
				t.Fatalf("outcome %v, want %v", got.Outcome, tt.want)
			}
		})
	}
	bound := d.Challenge(netip.MustParseAddr("192.0.2.1"), nil, false)[0]
	if got := d.Verify("REGISTER", answer(t, bound, "1001", "right-password", 1), users); got.Outcome != Foreign {
		t.Fatalf("nonce bound to an address, checked unbound: %v", got.Outcome)
	}
}

func TestGuard(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	g := NewGuard(GuardConfig{MaxFailures: 3, Window: time.Minute, BanFor: 15 * time.Minute}, c.now)
	var banned []Ban
	g.OnBan(func(b Ban) { banned = append(banned, b) })
	ip := netip.MustParseAddr("192.0.2.7")
	steps := []struct {
		advance time.Duration
		fail    bool
		wantBan bool
	}{
		{0, true, false},
		{0, true, false},
		{61 * time.Second, true, false}, // the first two fell out of the window
		{time.Second, true, false},
		{time.Second, true, true},
	}
	for i, s := range steps {
		c.t = c.t.Add(s.advance)
		if got := g.Fail(ip); got != s.wantBan {
			t.Fatalf("step %d: ban %v", i, got)
		}
	}
	if !g.Banned(ip) || len(g.Bans()) != 1 || len(banned) != 1 {
		t.Fatal("ban not recorded")
	}
	if g.Banned(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("another address is banned")
	}
	c.t = c.t.Add(16 * time.Minute)
	if g.Banned(ip) {
		t.Fatal("ban did not expire")
	}
	for range 3 {
		g.Fail(ip)
	}
	if !g.Unban(ip) || g.Banned(ip) {
		t.Fatal("unban failed")
	}
}
