package auth

import (
	"encoding/base64"
	"net/netip"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// TestChallengeRequestRetransmission: a request challenged again within
// challengeMemory gets the same challenge; another request, a request
// without a key, or the same one once it is forgotten gets a new nonce.
func TestChallengeRequestRetransmission(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	src := netip.MustParseAddr("192.0.2.10")
	d := NewDigest("pbx.test", []string{MD5, SHA256}, 5*time.Minute, c.now)
	first := d.ChallengeRequest(src, nil, false, 42)
	if len(first) != 2 || first[0] == first[1] {
		t.Fatalf("challenges %q: want two, with a nonce each", first)
	}
	steps := []struct {
		name    string
		advance time.Duration
		src     netip.Addr
		key     uint64
		stale   bool
		same    bool
	}{
		{"retransmission", 500 * time.Millisecond, src, 42, false, true},
		{"another request", 0, src, 43, false, false},
		{"no key", 0, src, 0, false, false},
		{"retransmission, stale", 0, src, 42, true, false},
		{"retransmission after 4 s", 3500 * time.Millisecond, src, 42, false, true},
		{"retransmission after 12 s (the next generation)", 8 * time.Second, src, 42, false, true},
		{"retransmission after 28 s", 16 * time.Second, src, 42, false, false},
	}
	for _, s := range steps {
		c.t = c.t.Add(s.advance)
		got := d.ChallengeRequest(s.src, nil, s.stale, s.key)
		if same := got[0] == first[0] && got[1] == first[1]; same != s.same {
			t.Fatalf("%s: challenges %q after %q: same %v, want %v", s.name, got, first, same, s.same)
		}
	}
}

// TestChallengeMemoryBounded: past challengeMemoryMax requests in one
// generation, a request gets fresh nonces, and the memory does not grow.
func TestChallengeMemoryBounded(t *testing.T) {
	var r recentChallenges
	now := time.Unix(1_800_000_000, 0)
	n := 0
	fresh := func() (h [16]byte) { n++; h[0], h[1], h[2] = byte(n), byte(n>>8), byte(n>>16); return h }
	for k := range uint64(challengeMemoryMax + 10) {
		r.head(k+1, now, fresh)
	}
	if len(r.cur) != challengeMemoryMax {
		t.Fatalf("%d remembered, want %d", len(r.cur), challengeMemoryMax)
	}
	a := r.head(challengeMemoryMax+5, now, fresh)
	if b := r.head(challengeMemoryMax+5, now, fresh); a == b {
		t.Fatal("a request past the bound was remembered")
	}
	if a, b := r.head(7, now, fresh), r.head(7, now, fresh); a != b {
		t.Fatal("a request within the bound was forgotten")
	}
}

// TestChallengeRequestPerSource: the same request from another address
// gets nonces of its own, and a nonce-count is accepted once whatever the
// challenge was repeated; its second use is a replay, unlike an expired
// nonce.
func TestChallengeRequestPerSource(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	phone := netip.MustParseAddr("192.0.2.10")
	other := netip.MustParseAddr("203.0.113.5")
	d := NewDigest("pbx.test", nil, 5*time.Minute, c.now)
	ch := d.ChallengeRequest(phone, nil, false, 7)[0]
	if again := d.ChallengeRequest(phone, nil, false, 7)[0]; again != ch {
		t.Fatalf("the same request from the same address: %q after %q", again, ch)
	}
	elsewhere := d.ChallengeRequest(other, nil, false, 7)[0]
	if nonceHead(t, elsewhere) == nonceHead(t, ch) {
		t.Fatal("the same request from another address got the same nonce")
	}
	one := answer(t, ch, "1001", "right-password", 1)
	for i, want := range []Result{{OK, "1001", false}, {Stale, "1001", true}} {
		if got := d.Check(Request{Method: "REGISTER", Header: one, Source: phone}, lookup); got != want {
			t.Fatalf("use %d of nonce-count 1: %+v, want %+v", i+1, got, want)
		}
	}
	c.t = c.t.Add(6 * time.Minute) // expired: stale, but no replay
	two := answer(t, ch, "1001", "right-password", 2)
	if got := d.Check(Request{Method: "REGISTER", Header: two, Source: phone}, lookup); got != (Result{Stale, "1001", false}) {
		t.Fatalf("an expired nonce: %+v", got)
	}
}

// nonceHead is the time and random part of a challenge's nonce.
func nonceHead(t *testing.T, challenge string) string {
	t.Helper()
	ch, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.RawURLEncoding.DecodeString(ch.Nonce)
	if err != nil || len(b) != 32 {
		t.Fatalf("nonce %q: %v", ch.Nonce, err)
	}
	return string(b[:16])
}
