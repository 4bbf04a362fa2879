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

	mu   sync.Mutex
	seen map[string]nonceUse // nonce -> highest nonce-count used
}

type nonceUse struct {
	nc      int
	expires time.Time
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
	return &Digest{realm: realm, algs: slices.Clone(algs), key: key, nonceTTL: nonceTTL, now: now, seen: map[string]nonceUse{}}
}

// Realm is the realm challenges name.
func (d *Digest) Realm() string { return d.realm }

// Algorithms are the algorithms offered to users without a list of their own.
func (d *Digest) Algorithms() []string { return slices.Clone(d.algs) }

// Challenge returns the header values of a challenge to a request from src:
// one per algorithm of algs (the server's when empty), in that order
// (RFC 8760 §2.4), each with a nonce bound to src.
func (d *Digest) Challenge(src netip.Addr, algs []string, stale bool) []string {
	if len(algs) == 0 {
		algs = d.algs
	}
	out := make([]string, len(algs))
	for i, alg := range algs {
		c := digest.Challenge{Realm: d.realm, Nonce: d.newNonce(src), Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
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
func (d *Digest) newNonce(src netip.Addr) string {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, uint64(d.now().Unix()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], d.nonceMAC(b[:16], src))
	return base64.RawURLEncoding.EncodeToString(b)
}

func (d *Digest) nonceMAC(head []byte, src netip.Addr) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write(head)
	m.Write(src.Unmap().AsSlice()) // 4 or 16 bytes, none for no address
	return m.Sum(nil)[:16]
}

// checkNonce reports whether this process issued the nonce to src and
// whether it expired.
func (d *Digest) checkNonce(n string, src netip.Addr) (valid, expired bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 32 {
		return false, false
	}
	if !hmac.Equal(d.nonceMAC(b[:16], src), b[16:]) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	return true, d.now().Sub(issued) > d.nonceTTL
}

// Result of Check.
type Result struct {
	Outcome Outcome
	// Username is the user the credentials name, when there are credentials
	// for our realm; a new challenge can offer that user's algorithms.
	Username string
}

// User is what Check needs to know about a user.
type User struct {
	Password string
	// Algorithms the user may answer with; empty means the server's.
	Algorithms []string
}

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
	c, err := digest.ParseCredentials(r.Header)
	if err != nil || c.Realm != d.realm {
		return Result{Outcome: Missing}
	}
	res := Result{Username: c.Username}
	valid, expired := d.checkNonce(c.Nonce, r.Source)
	if !valid {
		// Not a guess at a password we could have checked: anyone can send
		// this from a forged address, so it never counts as a failure.
		res.Outcome = Foreign
		return res
	}
	u, known := lookup(c.Username)
	if !known {
		u = User{Password: "\x00unknown-user\x00"} // same work as a known user
	}
	algs := u.Algorithms
	if len(algs) == 0 {
		algs = d.algs
	}
	// A user answers only with an algorithm offered to them, and RFC 7616
	// §3.4 requires qop; anything else is a made-up answer to our nonce.
	h := hasher(c.Algorithm)
	wellFormed := h != nil && offered(algs, c.Algorithm) && c.QOP == "auth" && c.Nc > 0 && c.Cnonce != ""
	if h == nil {
		h = md5.New // keep the work of a real check
	}
	ha1 := hashHex(h, c.Username+":"+d.realm+":"+u.Password)
	ha2 := hashHex(h, r.Method+":"+c.URI)
	want := hashHex(h, strings.Join([]string{ha1, c.Nonce, nc(c.Nc), c.Cnonce, c.QOP, ha2}, ":"))
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) == 1
	switch {
	case !match || !known || !wellFormed:
		res.Outcome = Failed
	case expired:
		res.Outcome = Stale // RFC 7616 §3.3: the password was right, the nonce is old
	case !d.useNonce(c.Nonce, c.Nc):
		// A nonce-count used before (RFC 7616 §3.4): a replay of a correct
		// answer, which guesses nothing; ask for a fresh nonce.
		res.Outcome = Stale
	default:
		res.Outcome = OK
	}
	return res
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
func (d *Digest) useNonce(nonce string, count int) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.seen[nonce]
	if ok && count <= u.nc {
		return false
	}
	d.seen[nonce] = nonceUse{nc: count, expires: now.Add(d.nonceTTL + time.Minute)}
	if len(d.seen) > 1024 && len(d.seen)%256 == 0 {
		for k, v := range d.seen {
			if now.After(v.expires) {
				delete(d.seen, k)
			}
		}
	}
	return true
}

func nc(n int) string {
	s := hex.EncodeToString([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return s
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

func hashHex(h func() hash.Hash, s string) string {
	x := h()
	x.Write([]byte(s))
	return hex.EncodeToString(x.Sum(nil))
}
