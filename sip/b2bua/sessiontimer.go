package b2bua

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// Session timers (RFC 4028) keep a dialog alive only while its sessions
// are refreshed. In a B2BUA each leg is a session of its own: the caller's
// leg and the callee's leg each have an interval and a refresher, and a
// failed refresh on either ends the whole call.

// Default session timer values: RFC 4028 §4 puts the floor of Min-SE at
// 90 s and recommends 1800 s for Session-Expires.
const (
	DefaultMinSE          = 90 * time.Second
	DefaultSessionExpires = 1800 * time.Second
)

// sessionExpires is a Session-Expires header value (RFC 4028 §4):
// delta-seconds and the optional refresher parameter ("uac" or "uas").
type sessionExpires struct {
	secs      int
	refresher string
}

// parseSessionExpires reads a Session-Expires value such as
// "1800;refresher=uac"; ok is false when there is none or it is malformed.
func parseSessionExpires(v string) (se sessionExpires, ok bool) {
	parts := strings.Split(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return se, false
	}
	se.secs = n
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			switch r := strings.ToLower(strings.TrimSpace(val)); r {
			case "uac", "uas":
				se.refresher = r
			}
		}
	}
	return se, true
}

// headed is a request or a response.
type headed interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// headerValue is the first value of a header, by full or compact name
// (RFC 4028 §4: "x" is the compact form of Session-Expires).
func headerValue(m headed, names ...string) (string, bool) {
	for _, n := range names {
		if h := m.GetHeader(n); h != nil {
			return h.Value(), true
		}
	}
	return "", false
}

// messageSessionExpires reads the Session-Expires of a request or response.
func messageSessionExpires(m headed) (sessionExpires, bool) {
	v, ok := headerValue(m, "Session-Expires", "x")
	if !ok {
		return sessionExpires{}, false
	}
	return parseSessionExpires(v)
}

// supportsTimer reports whether a message lists the "timer" option tag in
// Supported or Require (RFC 4028 §3).
func supportsTimer(m headed) bool {
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range m.GetHeaders(name) {
			for _, tag := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(tag), "timer") {
					return true
				}
			}
		}
	}
	return false
}

// sessionTerms is what the PBX, answering a request, agrees for a leg's
// session (RFC 4028 §9).
type sessionTerms struct {
	tooBrief  bool          // Session-Expires below our Min-SE: 422
	interval  time.Duration // 0: the request asks for no session timer
	weRefresh bool          // the PBX (the UAS of this request) refreshes
	require   bool          // the UAC supports timers: Require: timer in the 2xx
}

// answerTerms decides the session timer for a request the PBX answers:
// an initial INVITE, a re-INVITE or an UPDATE (RFC 4028 §9).
func answerTerms(req *sip.Request, minSE time.Duration) sessionTerms {
	se, ok := messageSessionExpires(req)
	if !ok {
		return sessionTerms{}
	}
	if time.Duration(se.secs)*time.Second < minSE {
		return sessionTerms{tooBrief: true}
	}
	supported := supportsTimer(req)
	refresher := se.refresher
	switch {
	case !supported:
		// A UAC without timer support cannot refresh by contract: the
		// PBX does (RFC 4028 §9).
		refresher = "uas"
	case refresher == "":
		// The UAS chooses; the party that asked for the timer refreshes.
		refresher = "uac"
	}
	return sessionTerms{interval: time.Duration(se.secs) * time.Second, weRefresh: refresher == "uas", require: supported}
}

// headers are the Session-Expires (with refresher) and Require of the 2xx
// that accepts terms (RFC 4028 §9).
func (t sessionTerms) headers() []sip.Header {
	if t.interval == 0 {
		return nil
	}
	refresher := "uac"
	if t.weRefresh {
		refresher = "uas"
	}
	hs := []sip.Header{sip.NewHeader("Session-Expires", strconv.Itoa(int(t.interval/time.Second))+";refresher="+refresher)}
	if t.require {
		hs = append(hs, sip.NewHeader("Require", "timer"))
	}
	return hs
}

// offerTerms reads the 2xx to a request the PBX sent (an INVITE to a callee
// or a refresh) as the UAC of that request (RFC 4028 §7.2): no
// Session-Expires means no session timer; refresher=uac means the PBX.
func offerTerms(res *sip.Response) (sessionTerms, bool) {
	se, ok := messageSessionExpires(res)
	if !ok {
		return sessionTerms{}, false
	}
	return sessionTerms{interval: time.Duration(se.secs) * time.Second, weRefresh: se.refresher != "uas"}, true
}

// expiryOf is when a session is over without a refresh from the other
// party: the interval minus min(32 s, a third of it) (RFC 4028 §10).
func expiryOf(interval time.Duration) time.Duration {
	return interval - min(32*time.Second, interval/3)
}

// refreshMustEnd reports whether the answer to a refresh ends the session
// (RFC 4028 §10: 408, 481, or no answer at all).
func refreshMustEnd(res *sip.Response, err error) bool {
	if err != nil {
		return true
	}
	return res.StatusCode == sip.StatusRequestTimeout || res.StatusCode == sip.StatusCallTransactionDoesNotExists
}

// timerHeaders go on every INVITE the PBX sends to a callee (RFC 4028 §7.1).
func (b *B2BUA) timerHeaders() []sip.Header {
	return []sip.Header{
		sip.NewHeader("Supported", "timer"),
		sip.NewHeader("Session-Expires", strconv.Itoa(int(b.cfg.SessionExpires/time.Second))),
		sip.NewHeader("Min-SE", strconv.Itoa(int(b.cfg.MinSE/time.Second))),
	}
}

// refuseBrief answers a request whose Session-Expires is below our Min-SE
// with 422 and our Min-SE (RFC 4028 §9); true when it did.
func (b *B2BUA) refuseBrief(req *sip.Request, tx sip.ServerTransaction) bool {
	if !b.TooBriefSession(req) {
		return false
	}
	res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
	res.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(b.cfg.MinSE/time.Second))))
	_ = tx.Respond(res)
	return true
}

// RefuseBriefSession answers a new INVITE with 422 when its
// Session-Expires is below the PBX's Min-SE (RFC 4028 §9); true when it did.
func (b *B2BUA) RefuseBriefSession(req *sip.Request, tx sip.ServerTransaction) bool {
	return b.refuseBrief(req, tx)
}

// TooBriefSession reports whether a new INVITE's Session-Expires is below
// the PBX's Min-SE, so that RefuseBriefSession would answer it.
func (b *B2BUA) TooBriefSession(req *sip.Request) bool {
	return answerTerms(req, b.cfg.MinSE).tooBrief
}

// legSession is the session timer of one leg.
type legSession struct {
	interval  time.Duration
	weRefresh bool
	allowsUpd bool // the leg takes UPDATE (its Allow said so)
	timer     *time.Timer
}

func sideOf(fromA bool) int {
	if fromA {
		return 0
	}
	return 1
}

// allowsUpdate reports whether a message's Allow lists UPDATE.
func allowsUpdate(m headed) bool {
	for _, h := range m.GetHeaders("Allow") {
		for _, meth := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(meth), "UPDATE") {
				return true
			}
		}
	}
	return false
}

// armSession (re)starts a leg's session timer with terms; zero terms stop
// it. allowsUpd, when known (not nil), records whether the leg takes UPDATE.
func (c *Call) armSession(toA bool, t sessionTerms, allowsUpd *bool) {
	side := sideOf(toA)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[side]
	if s != nil && s.timer != nil {
		s.timer.Stop()
	}
	if t.interval == 0 || c.state == call.StateEnded {
		c.sessions[side] = nil
		return
	}
	// A new session value each time: a timer that fired while it was
	// being replaced finds itself stale (see current).
	next := &legSession{interval: t.interval, weRefresh: t.weRefresh}
	if s != nil {
		next.allowsUpd = s.allowsUpd
	}
	if allowsUpd != nil {
		next.allowsUpd = *allowsUpd
	}
	s = next
	c.sessions[side] = s
	if s.weRefresh {
		// The refresher refreshes at half the interval (RFC 4028 §10).
		s.timer = time.AfterFunc(t.interval/2, func() { c.refreshSession(toA, s) })
		return
	}
	s.timer = time.AfterFunc(expiryOf(t.interval), func() { c.sessionExpired(toA, s) })
}

// refreshed notes a refresh the leg sent (re-INVITE or UPDATE): terms from
// the request when it carries a Session-Expires, else the leg's current ones.
func (c *Call) refreshed(fromA bool, t sessionTerms) sessionTerms {
	if t.interval == 0 {
		c.mu.Lock()
		if s := c.sessions[sideOf(fromA)]; s != nil {
			t = sessionTerms{interval: s.interval, weRefresh: s.weRefresh}
		}
		c.mu.Unlock()
	}
	c.armSession(fromA, t, nil)
	return t
}

// stopSessions stops the session timers of both legs.
func (c *Call) stopSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.sessions {
		if s != nil && s.timer != nil {
			s.timer.Stop()
		}
		c.sessions[i] = nil
	}
}

// current reports whether s is still the leg's session (not re-armed or stopped).
func (c *Call) current(toA bool, s *legSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[sideOf(toA)] == s && c.state == call.StateAnswered
}

func legName(a bool) string {
	if a {
		return "caller"
	}
	return "callee"
}

// sessionExpired ends a call whose leg did not refresh in time (RFC 4028 §10).
func (c *Call) sessionExpired(toA bool, s *legSession) {
	if !c.current(toA, s) {
		return
	}
	c.log.Warn("session not refreshed, hanging up", "party", legName(toA), "interval", s.interval)
	c.hangup(call.BySystem, call.CauseSessionTimer)
}

// refreshSession sends the PBX's refresh to a leg: UPDATE without SDP when
// the leg takes UPDATE (RFC 4028 §7.4, RFC 3311), else a re-INVITE with the
// unchanged session description (RFC 3264 §8). A refresh answered 408, 481
// or not at all ends the call (RFC 4028 §10).
func (c *Call) refreshSession(toA bool, s *legSession) {
	if !c.current(toA, s) {
		return
	}
	c.mu.Lock()
	d := c.b
	local := &c.bLocal
	if toA {
		d, local = c.a, &c.aLocal
	}
	body := local.Marshal()
	useUpdate, interval := s.allowsUpd, s.interval
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	hs := []sip.Header{
		sip.NewHeader("Supported", "timer"),
		sip.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))+";refresher=uac"),
		sip.NewHeader("Min-SE", strconv.Itoa(int(c.b2b.cfg.MinSE/time.Second))),
	}
	var res *sip.Response
	var err error
	if useUpdate {
		res, err = sendInDialog(ctx, d, sip.UPDATE, nil, hs)
	} else {
		res, err = sendInDialog(ctx, d, sip.INVITE, body, hs)
	}
	if !c.current(toA, s) {
		return
	}
	if refreshMustEnd(res, err) {
		c.log.Warn("session refresh failed, hanging up", "party", legName(toA), "error", err, "status", statusOf(res))
		c.hangup(call.BySystem, call.CauseSessionTimer)
		return
	}
	t := sessionTerms{interval: interval, weRefresh: true}
	if res.IsSuccess() {
		if got, ok := offerTerms(res); ok {
			t = got
		}
	} else {
		c.log.Warn("session refresh refused", "party", legName(toA), "status", res.StatusCode)
	}
	c.armSession(toA, t, nil)
}

func statusOf(res *sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// sendInDialog sends a request within a leg's dialog, whichever side of it
// the PBX is, and ACKs a 2xx to an INVITE (RFC 3261 §13.2.2.4).
func sendInDialog(ctx context.Context, d dialog, method sip.RequestMethod, body []byte, hs []sip.Header) (*sip.Response, error) {
	if d, ok := d.(*leanDialog); ok {
		return d.send(ctx, method, body, hs)
	}
	var target *sip.ContactHeader
	switch d := d.(type) {
	case uasDialog:
		if d.s.InviteRequest != nil {
			target = d.s.InviteRequest.Contact()
		}
	case uacDialog:
		if d.s.InviteResponse != nil {
			target = d.s.InviteResponse.Contact()
		}
	}
	if target == nil {
		return nil, errors.New("dialog has no remote target")
	}
	req := sip.NewRequest(method, target.Address)
	for _, h := range hs {
		req.AppendHeader(h)
	}
	if len(body) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	var res *sip.Response
	var err error
	switch d := d.(type) {
	case uasDialog:
		res, err = d.s.Do(ctx, req)
		if err == nil && method == sip.INVITE && res.IsSuccess() {
			err = d.s.WriteRequest(sip.NewRequest(sip.ACK, target.Address))
		}
	case uacDialog:
		res, err = d.s.Do(ctx, req)
		if err == nil && method == sip.INVITE && res.IsSuccess() {
			err = d.s.WriteAck(ctx, sip.NewRequest(sip.ACK, target.Address))
		}
	}
	return res, err
}

// armCaller decides the caller's session timer from its INVITE, puts the
// terms in the PBX's 2xx and starts the timer (RFC 4028 §9).
func (c *Call) armCaller(invite *sip.Request, res *sip.Response) {
	t := answerTerms(invite, c.b2b.cfg.MinSE)
	if t.tooBrief {
		return
	}
	for _, h := range t.headers() {
		res.AppendHeader(h)
	}
	upd := allowsUpdate(invite)
	c.armSession(true, t, &upd)
}

// armCallee starts the callee's session timer from its 2xx (RFC 4028 §7.2).
func (c *Call) armCallee(res *sip.Response) {
	if res == nil {
		return
	}
	t, ok := offerTerms(res)
	if !ok {
		return
	}
	upd := allowsUpdate(res)
	c.armSession(false, t, &upd)
}
