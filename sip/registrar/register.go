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
// the response to send (RFC 3261 §10.3 steps 6-8).
func (g *Registrar) Register(req *sip.Request, ext *core.Extension) *sip.Response {
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	contacts := req.GetHeaders("Contact")
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && v >= 0 {
			headerExpires = v
		}
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

	type change struct {
		contact string
		expires int
	}
	var changes []change
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Contact", nil)
		}
		if c.Address.Wildcard {
			// "*" removes every binding and is only valid alone with Expires: 0.
			if len(contacts) != 1 || headerExpires != 0 {
				return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Wildcard Contact Needs Expires 0", nil)
			}
			g.Registry.RemoveAll(ext.ID)
			return g.ok(req, ext)
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
			return res
		}
		exp = min(exp, int(g.Limits.MaxExpires/time.Second))
		changes = append(changes, change{contact: contactKey(c.Address), expires: exp})
	}
	for _, ch := range changes {
		if ch.expires == 0 {
			g.Registry.Remove(ext.ID, ch.contact)
			continue
		}
		g.Registry.Upsert(Binding{
			ExtensionID: ext.ID, Username: ext.SIPUsername, Contact: ch.contact,
			Source: req.Source(), Transport: strings.ToUpper(req.Transport()), UserAgent: ua,
			CallID: callID, CSeq: cseq, ExpiresAt: now.Add(time.Duration(ch.expires) * time.Second),
		})
	}
	return g.ok(req, ext)
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
