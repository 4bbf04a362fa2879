package b2bua

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media/codec"
)

// CauseTrunkAuthFailed is the hangup cause of a call, and the start of a
// trunk's last error, when the carrier refuses the trunk's credentials.
const CauseTrunkAuthFailed = "trunk_auth_failed"

// TrunkAuthError is a carrier refusing a trunk's credentials: a second
// challenge after an answered one (same nonce, or not marked stale), a
// challenge for a realm the trunk has no credentials for, or 403. It
// unwraps to the dialog response, so the status counts like any other
// final answer.
type TrunkAuthError struct {
	Res    *sip.Response
	Reason string
}

func (e *TrunkAuthError) Error() string {
	return fmt.Sprintf("%s: %s (%d %s)", CauseTrunkAuthFailed, e.Reason, e.Res.StatusCode, e.Res.Reason)
}

func (e *TrunkAuthError) Unwrap() error { return &sipgo.ErrDialogResponse{Res: e.Res} }

// TrunkAuthFailed reports whether a final status from a trunk means it
// refused our credentials (or, for 403, refused us outright).
func TrunkAuthFailed(status int) bool {
	return status == sip.StatusUnauthorized || status == sip.StatusProxyAuthRequired || status == sip.StatusForbidden
}

// TrunkAuth follows the digest challenges of one request to a trunk
// (RFC 3261 §22.2, RFC 7616 §3.3): it answers at most one challenge per
// nonce, only challenges of the trunk's realm when one is set, and calls a
// repeated challenge what it is, refused credentials.
type TrunkAuth struct {
	Realm       string // "" answers any realm
	HasPassword bool

	answered bool
	nonce    string
}

// Check looks at a response to the request. For a 401 or 407 it returns
// nil when the challenge is to be answered, and leaves that challenge (the
// one of the trunk's realm) first in the response, where the digest
// client reads it. It returns a *TrunkAuthError when the challenge must not
// be answered, and for 403.
func (a *TrunkAuth) Check(res *sip.Response) error {
	var name string
	switch res.StatusCode {
	case sip.StatusForbidden:
		return &TrunkAuthError{Res: res, Reason: "refused"}
	case sip.StatusUnauthorized:
		name = "WWW-Authenticate"
	case sip.StatusProxyAuthRequired:
		name = "Proxy-Authenticate"
	default:
		return nil
	}
	if !a.HasPassword {
		return &TrunkAuthError{Res: res, Reason: "challenged, and the trunk has no password"}
	}
	headers := res.GetHeaders(name)
	var chosen sip.Header
	var chal *digest.Challenge
	for _, h := range headers {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil || (a.Realm != "" && c.Realm != a.Realm) {
			continue
		}
		chosen, chal = h, c
		break
	}
	if chosen == nil {
		return &TrunkAuthError{Res: res, Reason: fmt.Sprintf("no digest challenge for realm %q", a.Realm)}
	}
	// RFC 7616 §3.3: a new challenge after credentials were sent means they
	// were wrong, unless it says the nonce was stale; the same nonce again
	// always means they were wrong. Either way nothing is sent again.
	if a.answered && (!chal.Stale || chal.Nonce == a.nonce) {
		return &TrunkAuthError{Res: res, Reason: "credentials rejected"}
	}
	a.answered, a.nonce = true, chal.Nonce
	for _, h := range headers {
		res.RemoveHeader(h.Name())
	}
	res.AppendHeader(chosen)
	return nil
}

// trunkCodecs are a trunk's codecs, in its order of preference.
func trunkCodecs(t *core.Trunk) []codec.Codec {
	var out []codec.Codec
	for _, name := range t.Codecs {
		if c := codec.FromName(name); c != codec.Unknown {
			out = append(out, c)
		}
	}
	return out
}

// callerCodecs are the codecs accepted from a call's caller: a trunk's own
// for a call coming in from it, else the B2BUA's.
func (b *B2BUA) callerCodecs(c *Call) []codec.Codec {
	c.mu.Lock()
	dir, id := c.rec.Direction, c.rec.TrunkID
	c.mu.Unlock()
	if dir != call.Inbound || id == "" {
		return b.cfg.Codecs
	}
	t, err := b.dir.GetTrunk(context.Background(), core.TrunkID(id))
	if err != nil {
		return b.cfg.Codecs
	}
	if cs := trunkCodecs(t); len(cs) > 0 {
		return cs
	}
	return b.cfg.Codecs
}

// offerFor is the call's offer restricted to the trunk's codecs, in the
// trunk's order (RFC 3264 §5.1: the order is the offerer's preference); the
// relay transcodes when the caller uses another. The B leg's local
// description follows, so later offers on that leg keep to it.
func (b *B2BUA) offerFor(c *Call, t *core.Trunk, offer []byte) []byte {
	codecs := trunkCodecs(t)
	if len(codecs) == 0 || len(offer) == 0 {
		return offer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.bLocal.Addr.IsValid() {
		return offer
	}
	c.bLocal.Codecs = codecs
	return c.bLocal.Marshal()
}

// asTrunkUser presents a call to a trunk with a From user of the trunk's
// (from_user, often the auth user the carrier checks it against); the
// caller ID then travels in P-Asserted-Identity (RFC 3325 §9.1), which the
// hidden-caller path has already set.
func asTrunkUser(t *core.Trunk, presented *core.Extension, headers []sip.Header, shown string) (*core.Extension, []sip.Header) {
	if t.FromUser == "" {
		return presented, headers
	}
	if len(headers) == 0 {
		headers = []sip.Header{sip.NewHeader("P-Asserted-Identity", "<sip:"+shown+"@"+t.FromHost()+">")}
	}
	return &core.Extension{ExtensionSpec: core.ExtensionSpec{Number: t.FromUser, Name: presented.Name}}, headers
}
