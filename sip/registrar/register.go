package registrar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
)

// Limits on the registration interval.
type Limits struct {
	MinExpires     time.Duration
	MaxExpires     time.Duration
	DefaultExpires time.Duration
}

// DefaultLimits accept intervals from 60 s to 1 h, 1 h when the phone names none.
func DefaultLimits() Limits {
	return Limits{MinExpires: 60 * time.Second, MaxExpires: time.Hour, DefaultExpires: time.Hour}
}

// Registrar applies REGISTER requests of authenticated extensions.
type Registrar struct {
	Registry *Registry
	Limits   Limits
	Now      func() time.Time
}

// Register updates ext's bindings from an authenticated REGISTER and returns
// the response to send (RFC 3261 §10.3 steps 6-8), once what must be stored
// before it is (new, moved and removed bindings) is committed.
func (g *Registrar) Register(req *sip.Request, ext *core.Extension) *sip.Response {
	changes, wildcard, refusal := g.changes(req)
	o := orderOf(req)
	switch {
	case refusal != nil:
		return refusal
	case g.stale(ext, o, changes, wildcard):
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Invalid CSeq", nil)
	case wildcard:
		g.Registry.remove(ext.ID, allContacts, o).wait()
		return g.ok(req, ext)
	}
	var wait pending
	for _, ch := range changes {
		var p pending
		if ch.expires == 0 {
			p = g.Registry.remove(ext.ID, ch.contact, o)
		} else {
			p, _ = g.Registry.upsert(g.binding(req, ext, ch), false)
		}
		if p.f != nil {
			wait = p // writes commit in order: the last one covers the others
		}
	}
	wait.wait()
	return g.ok(req, ext)
}

// stale reports whether a REGISTER of ext with the given order arrived after
// a later one of its Call-ID changed a binding it names: one whose CSeq is
// above its own, or, for a removal, at least its own. Such a request fails
// and changes nothing (RFC 3261 §10.3 steps 6 and 7); the phone has moved on
// to the later one. A copy of the request that made a binding is not stale:
// it is answered as that request was.
func (g *Registrar) stale(ext *core.Extension, o order, changes []change, wildcard bool) bool {
	for _, b := range g.Registry.Lookup(ext.ID) {
		if b.CallID != o.callID || b.CSeq < o.cseq {
			continue
		}
		if wildcard {
			return true
		}
		for _, ch := range changes {
			if ch.contact == b.Contact && (b.CSeq > o.cseq || ch.expires == 0) {
				return true
			}
		}
	}
	return false
}

// orderOf is the Call-ID and CSeq of req.
func orderOf(req *sip.Request) order {
	var o order
	if h := req.CallID(); h != nil {
		o.callID = h.Value()
	}
	if h := req.CSeq(); h != nil {
		o.cseq = h.SeqNo
	}
	return o
}

// Refresh applies an authenticated REGISTER that only refreshes one live
// binding of ext from the address and transport it was registered from
// (or only asks for the bindings, or is refused), and returns its answer:
// nothing of it must be stored before the answer is sent, and nothing is
// reported. Anything else it leaves alone, returning false, for Register.
func (g *Registrar) Refresh(req *sip.Request, ext *core.Extension) (*sip.Response, bool) {
	changes, wildcard, refusal := g.changes(req)
	switch {
	case refusal != nil:
		return refusal, true
	case wildcard || len(changes) > 1:
		return nil, false
	case len(changes) == 1:
		if changes[0].expires == 0 {
			return nil, false
		}
		if _, ok := g.Registry.upsert(g.binding(req, ext, changes[0]), true); !ok {
			return nil, false
		}
	}
	return g.ok(req, ext), true
}

// binding is what req registers for one contact.
func (g *Registrar) binding(req *sip.Request, ext *core.Extension, ch change) Binding {
	b := Binding{
		ExtensionID: ext.ID, Username: ext.SIPUsername, Contact: ch.contact,
		Source: req.Source(), Transport: strings.ToUpper(req.Transport()),
		ExpiresAt: g.now().Add(time.Duration(ch.expires) * time.Second),
	}
	o := orderOf(req)
	b.CallID, b.CSeq = o.callID, o.cseq
	if h := req.GetHeader("User-Agent"); h != nil {
		b.UserAgent = h.Value()
	}
	return b
}

// change is what a REGISTER asks for one contact: its expiry in seconds, 0
// to remove it.
type change struct {
	contact string
	expires int
}

// changes reads the contacts of req and their expiries within the limits;
// wildcard is a valid request to remove every binding, refusal the answer to
// a request that cannot be applied.
func (g *Registrar) changes(req *sip.Request) (changes []change, wildcard bool, refusal *sip.Response) {
	contacts := req.GetHeaders("Contact")
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && v >= 0 {
			headerExpires = v
		}
	}
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, false, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Contact", nil)
		}
		if c.Address.Wildcard {
			// "*" removes every binding and is only valid alone with Expires: 0.
			if len(contacts) != 1 || headerExpires != 0 {
				return nil, false, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Wildcard Contact Needs Expires 0", nil)
			}
			return nil, true, nil
		}
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				exp = n
			}
		}
		if exp < 0 {
			exp = int(g.Limits.DefaultExpires / time.Second)
		}
		if exp > 0 && exp < int(g.Limits.MinExpires/time.Second) {
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(g.Limits.MinExpires/time.Second))))
			return nil, false, res
		}
		exp = min(exp, int(g.Limits.MaxExpires/time.Second))
		changes = append(changes, change{contact: contactKey(c.Address), expires: exp})
	}
	return changes, false, nil
}

func (g *Registrar) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// ok answers 200 listing every current binding with its remaining time.
func (g *Registrar) ok(req *sip.Request, ext *core.Extension) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	now := time.Now()
	for _, b := range g.Registry.Lookup(ext.ID) {
		left := int(b.ExpiresAt.Sub(now).Round(time.Second) / time.Second)
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", b.Contact, max(left, 1))))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return res
}

// AnswerAgain is the 200 to req, an authenticated REGISTER of ext, when it
// was applied already, else nil: every contact it names (at least one,
// none removed) is a live binding of ext from the same source and
// transport that this request made, with its Call-ID and CSeq. Nothing is
// applied again; the answer lists ext's bindings, as a transaction would
// have answered a retransmission (RFC 3261 §10.3 step 7). A copy of an
// older request is not answered 200 here: the full path fails it (stale).
func (g *Registrar) AnswerAgain(req *sip.Request, ext *core.Extension) *sip.Response {
	changes, wildcard, refusal := g.changes(req)
	o := orderOf(req)
	if refusal != nil || wildcard || len(changes) == 0 || o.callID == "" {
		return nil
	}
	live := g.Registry.Lookup(ext.ID)
	transport := strings.ToUpper(req.Transport())
	for _, ch := range changes {
		if ch.expires == 0 || !slices.ContainsFunc(live, func(b Binding) bool {
			return b.Contact == ch.contact && b.CallID == o.callID && b.CSeq == o.cseq &&
				b.Source == req.Source() && b.Transport == transport
		}) {
			return nil
		}
	}
	return g.ok(req, ext)
}

// contactKey is the canonical form of a contact URI used to match bindings.
func contactKey(u sip.Uri) string {
	return u.String()
}
