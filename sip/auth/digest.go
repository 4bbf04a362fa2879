// Package auth verifies SIP digest credentials (RFC 3261 §22, RFC 8760) and
// throttles addresses that keep failing.
package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// Outcome is the result of checking a request's credentials.
type Outcome int

// Outcomes. Missing, Foreign and Stale are part of the normal
// challenge/response exchange and are answered with a fresh challenge; only
// Failed counts against the source address, and only a response to a nonce
// this process issued to that same source can fail, so a packet with a
// forged source address cannot get its victim banned.
const (
	Unknown Outcome = iota
	Missing         // no credentials for our realm: challenge
	Foreign         // a nonce this process did not issue to this source (forged, another address, an earlier run): challenge
	Stale           // a good response on an expired or already used nonce-count: challenge with stale=true
	Failed          // our nonce to this source, but a wrong password, an unknown user or an algorithm the user may not use
	OK
)

var outcomeNames = [...]string{"unknown", "missing", "foreign", "stale", "failed", "ok"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// Digest algorithms (RFC 7616 §3.3, RFC 8760 §2).
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// DefaultAlgorithms are offered when nothing else is configured: MD5 alone.
// baresip 1.0 (libre 1.x) and many deployed phones give up on a 401 that
// carries any SHA-256 challenge, even next to an MD5 one, and sipp knows
// only MD5, so SHA-256 is opt-in: by configuration for the whole server or
// per extension. When several are offered, RFC 8760 §2.4 orders them by
// preference.
var DefaultAlgorithms = []string{MD5}

// ValidAlgorithm reports whether alg is a digest algorithm Dialtone verifies.
func ValidAlgorithm(alg string) bool { return hasher(alg) != nil && alg != "" }

// Digest issues challenges and checks credentials for one realm.
type Digest struct {
	realm    string
	algs     []string
	key      []byte
	nonceTTL time.Duration
	now      func() time.Time

	macs sync.Pool // *macState

	mu        sync.Mutex
	seen      map[[16]byte]nonceUse // nonce (time and random part) -> highest nonce-count used
	nextSweep time.Time

	issued recentChallenges
}

type nonceUse struct {
	nc      int
	expires int64 // unix seconds
}

// NewDigest returns a verifier for realm offering algs (DefaultAlgorithms when
// empty) in that order. Nonces are valid for nonceTTL. The key nonces are
// signed with is drawn at random, so nonces of an earlier run are not ours.
func NewDigest(realm string, algs []string, nonceTTL time.Duration, now func() time.Time) *Digest {
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if now == nil {
		now = time.Now
	}
	return &Digest{realm: realm, algs: slices.Clone(algs), key: key, nonceTTL: nonceTTL, now: now, seen: map[[16]byte]nonceUse{}}
}

// Realm is the realm challenges name.
func (d *Digest) Realm() string { return d.realm }

// Algorithms are the algorithms offered to users without a list of their own.
func (d *Digest) Algorithms() []string { return slices.Clone(d.algs) }

// Challenge returns the header values of a challenge to a request from src:
// one per algorithm of algs (the server's when empty), in that order
// (RFC 8760 §2.4), each with a nonce bound to src.
func (d *Digest) Challenge(src netip.Addr, algs []string, stale bool) []string {
	return d.ChallengeRequest(src, algs, stale, 0)
}

// ChallengeRequest is Challenge for the request key names (a hash of
// what identifies it and its retransmissions, 0 for none): the request
// retransmitted from the same address and challenged again within a few
// seconds gets the same nonces, so the answer is the same as the first, as
// a server transaction would have sent it again (RFC 3261 §17.2.2). A
// client that already answered the first challenge takes the second for a
// retransmission rather than a new challenge. Only the challenge is
// repeated: a nonce-count is still accepted once.
func (d *Digest) ChallengeRequest(src netip.Addr, algs []string, stale bool, key uint64) []string {
	if len(algs) == 0 {
		algs = d.algs
	}
	if key != 0 {
		key = withSource(key, src) // another address gets nonces of its own
	}
	out := make([]string, len(algs))
	for i, alg := range algs {
		var head [16]byte
		if key == 0 {
			head = d.newHead()
		} else {
			// One nonce per algorithm offered, each remembered on its own.
			head = d.issued.head(key+uint64(i)*0x9e3779b97f4a7c15, d.now(), d.newHead)
		}
		c := digest.Challenge{Realm: d.realm, Nonce: d.nonce(head, src), Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out[i] = c.String()
	}
	return out
}

// Challenges returns a challenge with the server's algorithms whose nonces
// are bound to no address; Verify accepts them. It suits a peer that checks
// credentials without knowing their source.
func (d *Digest) Challenges(stale bool) []string { return d.Challenge(netip.Addr{}, nil, stale) }

// newNonce is time || random || HMAC(key, time || random || source IP): any
// holder of the key can check it without remembering it, and it is good only
// for requests from the address it was sent to (RFC 7616 §3.3 discusses the
// client's IP address in the nonce). A client behind a NAT whose address
// changes gets a fresh challenge, not a failure.
func (d *Digest) newNonce(src netip.Addr) string { return d.nonce(d.newHead(), src) }

// newHead is the time and random part of a new nonce.
func (d *Digest) newHead() (head [16]byte) {
	binary.BigEndian.PutUint64(head[:8], uint64(d.now().Unix()))
	_, _ = rand.Read(head[8:])
	return head
}

// nonce is head followed by its MAC bound to src.
func (d *Digest) nonce(head [16]byte, src netip.Addr) string {
	m := d.mac()
	defer d.macs.Put(m)
	copy(m.nonce[:16], head[:])
	copy(m.nonce[16:], m.sum(src))
	return base64.RawURLEncoding.EncodeToString(m.nonce[:])
}

// macState is a keyed HMAC with buffers, reused across requests so that
// checking a nonce allocates nothing.
type macState struct {
	h     hash.Hash
	nonce [32]byte
	addr  [16]byte
	out   [sha256.Size]byte
}

func (d *Digest) mac() *macState {
	if m, ok := d.macs.Get().(*macState); ok {
		return m
	}
	return &macState{h: hmac.New(sha256.New, d.key)}
}

// sum is the MAC of the nonce head (m.nonce[:16]) bound to src.
func (m *macState) sum(src netip.Addr) []byte {
	m.h.Reset()
	m.h.Write(m.nonce[:16])
	src = src.Unmap()
	switch {
	case src.Is4():
		a := src.As4()
		copy(m.addr[:], a[:])
		m.h.Write(m.addr[:4])
	case src.Is6():
		m.addr = src.As16()
		m.h.Write(m.addr[:])
	} // no address: nothing
	return m.h.Sum(m.out[:0])[:16]
}

// checkNonce reports whether this process issued the nonce to src and
// whether it expired; head identifies it (its time and random part).
func (d *Digest) checkNonce(n string, src netip.Addr) (head [16]byte, valid, expired bool) {
	m := d.mac()
	defer d.macs.Put(m)
	if len(n) == base64.RawURLEncoding.EncodedLen(len(m.nonce)) {
		if k, err := base64.RawURLEncoding.Decode(m.nonce[:], []byte(n)); err != nil || k != len(m.nonce) {
			return head, false, false
		}
	} else {
		// The decoder skips CR and LF: such a nonce may still decode to 32 bytes.
		b, err := base64.RawURLEncoding.DecodeString(n)
		if err != nil || len(b) != len(m.nonce) {
			return head, false, false
		}
		copy(m.nonce[:], b)
	}
	if !hmac.Equal(m.sum(src), m.nonce[16:]) {
		return head, false, false
	}
	copy(head[:], m.nonce[:16])
	issued := time.Unix(int64(binary.BigEndian.Uint64(m.nonce[:8])), 0)
	return head, true, d.now().Sub(issued) > d.nonceTTL
}

// Result of Check.
type Result struct {
	Outcome Outcome
	// Username is the user the credentials name, when there are credentials
	// for our realm; a new challenge can offer that user's algorithms.
	Username string
	// Replayed is set with Stale when the answer was right but its
	// nonce-count was used before: the request is a replay, or a
	// retransmission of one already accepted.
	Replayed bool
}

// User is what Check needs to know about a user.
type User struct {
	Password string
	// Algorithms the user may answer with; empty means the server's.
	Algorithms []string
	// HA1, when set, holds H(username ":" realm ":" password) for this
	// realm, precomputed (RFC 7616 §3.4.2); Password is then not read.
	HA1 *HA1
}

// HA1 is H(username ":" realm ":" password) in lower-case hex for each
// algorithm Dialtone verifies.
type HA1 struct {
	md5    [2 * md5.Size]byte
	sha256 [2 * sha256.Size]byte
}

// NewHA1 precomputes the HA1 values of user with password in realm.
func NewHA1(user, realm, password string) *HA1 {
	var h HA1
	var buf [256]byte
	b := append(append(append(append(append(buf[:0], user...), ':'), realm...), ':'), password...)
	m := md5.Sum(b)
	hex.Encode(h.md5[:], m[:])
	s := sha256.Sum256(b)
	hex.Encode(h.sha256[:], s[:])
	return &h
}

func (h *HA1) of(alg int) []byte {
	if alg == algSHA256 {
		return h.sha256[:]
	}
	return h.md5[:]
}

// unknownHA1 stands for the password of an unknown user: the check does the
// same work as for a known one and fails.
var unknownHA1 = NewHA1("\x00unknown-user\x00", "", "\x00unknown-user\x00")

// Request is a request's credentials and where they came from.
type Request struct {
	Method string
	// Header is the value of Authorization or Proxy-Authorization
	// (RFC 3261 §22.2, §22.3), empty when there is none.
	Header string
	// Source is the address the request came from; the nonce must have
	// been issued to it.
	Source netip.Addr
}

// Check checks a request's credentials. lookup finds a user; it reports
// false for unknown users, who fail exactly like a wrong password, after the
// same hashing work, so the answer does not tell which users exist.
func (d *Digest) Check(r Request, lookup func(user string) (User, bool)) Result {
	if r.Header == "" {
		return Result{Outcome: Missing}
	}
	c, ok := parseCredentials(r.Header)
	if !ok || c.realm != d.realm {
		return Result{Outcome: Missing}
	}
	res := Result{Username: c.username}
	head, valid, expired := d.checkNonce(c.nonce, r.Source)
	if !valid {
		// Not a guess at a password we could have checked: anyone can send
		// this from a forged address, so it never counts as a failure.
		res.Outcome = Foreign
		return res
	}
	u, known := lookup(c.username)
	if !known {
		u = User{HA1: unknownHA1} // same work as a known user
	}
	algs := u.Algorithms
	if len(algs) == 0 {
		algs = d.algs
	}
	// A user answers only with an algorithm offered to them, and RFC 7616
	// §3.4 requires qop; anything else is a made-up answer to our nonce.
	alg := algorithm(c.algorithm)
	wellFormed := alg != algNone && offered(algs, c.algorithm) && c.qop == "auth" && c.nc > 0 && c.cnonce != ""
	if alg == algNone {
		alg = algMD5 // keep the work of a real check
	}
	var buf [512]byte // what is hashed; longer input spills to the heap
	var ha1Buf [2 * sha256.Size]byte
	var ha1 []byte
	if u.HA1 != nil {
		ha1 = u.HA1.of(alg)
	} else {
		ha1 = hexSum(alg, &ha1Buf, join(&buf, c.username, d.realm, u.Password))
	}
	var ha2Buf, wantBuf [2 * sha256.Size]byte
	ha2 := hexSum(alg, &ha2Buf, join(&buf, r.Method, c.uri))
	var ncBuf [8]byte
	n := uint32(c.nc)
	hex.Encode(ncBuf[:], []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	b := append(buf[:0], ha1...)
	b = append(append(b, ':'), c.nonce...)
	b = append(append(b, ':'), ncBuf[:]...)
	b = append(append(b, ':'), c.cnonce...)
	b = append(append(b, ':'), c.qop...)
	b = append(append(b, ':'), ha2...)
	want := hexSum(alg, &wantBuf, b)
	match := len(c.response) == len(want) && equalFoldHex(c.response, want)
	switch {
	case !match || !known || !wellFormed:
		res.Outcome = Failed
	case expired:
		res.Outcome = Stale // RFC 7616 §3.3: the password was right, the nonce is old
	case !d.useNonce(head, c.nc):
		// A nonce-count used before (RFC 7616 §3.4): a replay of a correct
		// answer, which guesses nothing; ask for a fresh nonce.
		res.Outcome, res.Replayed = Stale, true
	default:
		res.Outcome = OK
	}
	return res
}

// equalFoldHex compares a response, upper or lower case, with want (lower
// case hex of the same length) in constant time.
func equalFoldHex(resp string, want []byte) bool {
	var diff byte
	for i := range want {
		b := resp[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		diff |= b ^ want[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// Digest algorithms as Check reads them.
const (
	algNone = iota
	algMD5
	algSHA256
)

// algorithm reads an algorithm parameter; none means MD5 (RFC 2617 §3.2.1).
func algorithm(alg string) int {
	switch {
	case alg == "" || strings.EqualFold(alg, MD5):
		return algMD5
	case strings.EqualFold(alg, SHA256):
		return algSHA256
	}
	return algNone
}

// join writes parts separated by colons into buf.
func join(buf *[512]byte, parts ...string) []byte {
	b := buf[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return b
}

// hexSum writes H(b) in hex to out and returns it.
func hexSum(alg int, out *[2 * sha256.Size]byte, b []byte) []byte {
	if alg == algSHA256 {
		s := sha256.Sum256(b)
		hex.Encode(out[:], s[:])
		return out[:]
	}
	s := md5.Sum(b)
	hex.Encode(out[:], s[:])
	return out[:2*md5.Size]
}

// Verify checks credentials answering a challenge from Challenges (nonces
// bound to no address). password looks up a user's password; it reports
// false for unknown users, which fail exactly like a wrong password.
func (d *Digest) Verify(method, header string, password func(user string) (string, bool)) Result {
	return d.Check(Request{Method: method, Header: header}, func(user string) (User, bool) {
		pw, ok := password(user)
		return User{Password: pw}, ok
	})
}

func offered(algs []string, alg string) bool {
	if alg == "" {
		alg = MD5 // RFC 2617 §3.2.1: no algorithm means MD5
	}
	for _, a := range algs {
		if strings.EqualFold(a, alg) {
			return true
		}
	}
	return false
}

// useNonce records a nonce-count; each must be higher than the last (RFC 7616 §3.4).
func (d *Digest) useNonce(head [16]byte, count int) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.seen[head]
	if ok && count <= u.nc {
		return false
	}
	d.seen[head] = nonceUse{nc: count, expires: now.Add(d.nonceTTL + time.Minute).Unix()}
	if now.After(d.nextSweep) {
		d.nextSweep = now.Add(d.nonceTTL / 4)
		for k, v := range d.seen {
			if now.Unix() > v.expires {
				delete(d.seen, k)
			}
		}
	}
	return true
}

func hasher(alg string) func() hash.Hash {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return md5.New
	case "SHA-256":
		return sha256.New
	}
	return nil
}
