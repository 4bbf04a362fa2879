package registrar

import (
	"fmt"
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
	res, p := g.Apply(req, ext)
	p.Wait()
	return res
}

// Apply updates ext's bindings like Register but does not wait for the
// store: the response may be sent only after the returned Pending is done.
func (g *Registrar) Apply(req *sip.Request, ext *core.Extension) (*sip.Response, Pending) {
	now := g.now()
	changes, wildcard, refusal := g.changes(req)
	switch {
	case refusal != nil:
		return refusal, Pending{}
	case wildcard:
		p := g.Registry.removeAll(ext.ID)
		return g.ok(req, ext), p
	}
	callID, cseq := "", uint32(0)
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	if h := req.CSeq(); h != nil {
		cseq = h.SeqNo
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	var wait Pending
	for _, ch := range changes {
		var p Pending
		if ch.expires == 0 {
			p = g.Registry.remove(ext.ID, ch.contact)
		} else {
			p = g.Registry.upsert(Binding{
				ExtensionID: ext.ID, Username: ext.SIPUsername, Contact: ch.contact,
				Source: req.Source(), Transport: strings.ToUpper(req.Transport()), UserAgent: ua,
				CallID: callID, CSeq: cseq, ExpiresAt: now.Add(time.Duration(ch.expires) * time.Second),
			})
		}
		if !p.Empty() {
			wait = p // writes commit in order: the last one covers the others
		}
	}
	return g.ok(req, ext), wait
}

// Refreshes reports whether req, from an authenticated ext, only refreshes
// live bindings of ext from the address and transport they were registered
// from (or only asks for the bindings, or is refused): applying it writes
// nothing that must be stored before the answer and reports no change, so
// Apply returns at once with nothing to wait for. Another REGISTER of the
// same extension may still change that between the two calls.
func (g *Registrar) Refreshes(req *sip.Request, ext core.ExtensionID) bool {
	changes, wildcard, refusal := g.changes(req)
	switch {
	case refusal != nil:
		return true
	case wildcard:
		return false
	}
	source, transport := req.Source(), strings.ToUpper(req.Transport())
	for _, ch := range changes {
		b := Binding{ExtensionID: ext, Contact: ch.contact, Source: source, Transport: transport}
		if ch.expires == 0 || !g.Registry.refreshes(b) {
			return false
		}
	}
	return true
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

// contactKey is the canonical form of a contact URI used to match bindings.
func contactKey(u sip.Uri) string {
	return u.String()
}
