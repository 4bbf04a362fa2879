package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func users(u string) (string, bool) {
	if u == "1001" {
		return "right-password", true
	}
	return "", false
}

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

func TestVerify(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	d := NewDigest("pbx.test", nil, 5*time.Minute, c.now)
	chs := d.Challenges(false)
	if len(chs) != 2 || !strings.Contains(chs[0], "MD5") || !strings.Contains(chs[1], "SHA-256") {
		t.Fatalf("want MD5 and SHA-256 challenges, got %v", chs)
	}
	md, sha := chs[0], chs[1]
	other := NewDigest("pbx.test", nil, 5*time.Minute, c.now).Challenges(false)[0]
	shaOnly := NewDigest("pbx.test", []string{"SHA-256"}, 5*time.Minute, c.now)
	tests := []struct {
		name   string
		header func() string
		want   Outcome
	}{
		{"no credentials", func() string { return "" }, Missing},
		{"other realm", func() string {
			return `Digest username="1001", realm="elsewhere", nonce="x", uri="sip:x", response="00"`
		}, Missing},
		{"md5", func() string { return answer(t, md, "1001", "right-password", 1) }, OK},
		{"sha-256", func() string { return answer(t, sha, "1001", "right-password", 1) }, OK},
		{"next nonce count", func() string { return answer(t, md, "1001", "right-password", 2) }, OK},
		{"replayed nonce count", func() string { return answer(t, md, "1001", "right-password", 2) }, Failed},
		{"wrong password", func() string { return answer(t, md, "1001", "wrong", 3) }, Failed},
		{"unknown user", func() string { return answer(t, md, "9999", "right-password", 1) }, Failed},
		{"nonce from another key", func() string { return answer(t, other, "1001", "right-password", 1) }, Failed},
	}
	if got := shaOnly.Verify("REGISTER", answer(t, shaOnly.Challenges(false)[0], "1001", "right-password", 1), users); got.Outcome != OK {
		t.Fatalf("sha-256 only: %d", got.Outcome)
	}
	if got := shaOnly.Verify("REGISTER", answer(t, strings.Replace(shaOnly.Challenges(false)[0], "SHA-256", "MD5", 1), "1001", "right-password", 1), users); got.Outcome != Failed {
		t.Fatalf("md5 answer to a sha-256-only server: %d", got.Outcome)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Verify("REGISTER", tt.header(), users); got.Outcome != tt.want {
				t.Fatalf("outcome %d, want %d", got.Outcome, tt.want)
			}
		})
	}
	// A correct answer to an expired nonce is stale, not a failure.
	c.t = c.t.Add(6 * time.Minute)
	if got := d.Verify("REGISTER", answer(t, md, "1001", "right-password", 9), users); got.Outcome != Stale {
		t.Fatalf("expired nonce: %d", got.Outcome)
	}
	if got := d.Verify("REGISTER", answer(t, md, "1001", "wrong", 10), users); got.Outcome != Failed {
		t.Fatalf("expired nonce, wrong password: %d", got.Outcome)
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
