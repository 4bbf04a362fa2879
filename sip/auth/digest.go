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
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// Outcome is the result of checking a request's credentials.
type Outcome int

// Outcomes. Missing and Stale are part of the normal challenge/response
// exchange; only Failed counts against the source address.
const (
	Unknown Outcome = iota
	Missing         // no credentials for our realm: challenge
	Stale           // a good response on an expired nonce: challenge with stale=true
	Failed          // wrong password, unknown user, replayed or forged nonce
	OK
)

// DefaultAlgorithms are offered in this order. RFC 8760 §2.4 lets a server
// order challenges by preference; MD5 comes first because many deployed
// phones and test tools read only the first challenge and know only MD5,
// while clients that know SHA-256 still find it offered.
var DefaultAlgorithms = []string{"MD5", "SHA-256"}

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
// empty) in that order. Nonces are valid for nonceTTL.
func NewDigest(realm string, algs []string, nonceTTL time.Duration, now func() time.Time) *Digest {
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if now == nil {
		now = time.Now
	}
	return &Digest{realm: realm, algs: algs, key: key, nonceTTL: nonceTTL, now: now, seen: map[string]nonceUse{}}
}

// Realm is the realm challenges name.
func (d *Digest) Realm() string { return d.realm }

// Challenges returns the header values of a challenge: one per algorithm.
func (d *Digest) Challenges(stale bool) []string {
	out := make([]string, len(d.algs))
	for i, alg := range d.algs {
		c := digest.Challenge{Realm: d.realm, Nonce: d.newNonce(), Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out[i] = c.String()
	}
	return out
}

// newNonce is time || random || HMAC(key, time || random), so any server
// process holding the key can check it without remembering it.
func (d *Digest) newNonce() string {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, uint64(d.now().Unix()))
	_, _ = rand.Read(b[8:16])
	m := hmac.New(sha256.New, d.key)
	m.Write(b[:16])
	copy(b[16:], m.Sum(nil)[:16])
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkNonce reports whether the nonce is ours and whether it expired.
func (d *Digest) checkNonce(n string) (valid, expired bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 32 {
		return false, false
	}
	m := hmac.New(sha256.New, d.key)
	m.Write(b[:16])
	if !hmac.Equal(m.Sum(nil)[:16], b[16:]) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	return true, d.now().Sub(issued) > d.nonceTTL
}

// Result of Verify.
type Result struct {
	Outcome  Outcome
	Username string
}

// Verify checks the credentials in header (the value of Authorization or
// Proxy-Authorization) for a request with the given method. password looks up
// a user's password; it reports false for unknown users, which fail exactly
// like a wrong password.
func (d *Digest) Verify(method, header string, password func(user string) (string, bool)) Result {
	if header == "" {
		return Result{Outcome: Missing}
	}
	c, err := digest.ParseCredentials(header)
	if err != nil || c.Realm != d.realm {
		return Result{Outcome: Missing}
	}
	res := Result{Username: c.Username}
	h := hasher(c.Algorithm)
	if !d.offers(c.Algorithm) {
		h = nil
	}
	valid, expired := d.checkNonce(c.Nonce)
	if h == nil || !valid || c.QOP != "auth" || c.Nc <= 0 || c.Cnonce == "" {
		res.Outcome = Failed
		return res
	}
	pw, known := password(c.Username)
	if !known {
		pw = "\x00unknown-user\x00" // same work as a known user
	}
	ha1 := hashHex(h, c.Username+":"+d.realm+":"+pw)
	ha2 := hashHex(h, method+":"+c.URI)
	want := hashHex(h, strings.Join([]string{ha1, c.Nonce, nc(c.Nc), c.Cnonce, c.QOP, ha2}, ":"))
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) == 1
	switch {
	case !match || !known:
		res.Outcome = Failed
	case expired:
		res.Outcome = Stale
	case !d.useNonce(c.Nonce, c.Nc):
		res.Outcome = Failed // a replayed nonce-count
	default:
		res.Outcome = OK
	}
	return res
}

func (d *Digest) offers(alg string) bool {
	if alg == "" {
		alg = "MD5" // RFC 2617: no algorithm means MD5
	}
	for _, a := range d.algs {
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
