package sip

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A new call's first INVITE usually comes without credentials and is
// answered 407 statelessly (see authenticate and respondStateless). Over
// UDP the front sends that challenge itself, on the goroutine that read the
// INVITE, as it answers REGISTERs (registerinline.go): sipgo's server
// transaction, its second parse and its goroutine would only be made to be
// ended at once, and the challenge does not wait behind other work for a
// goroutine to run. Whatever needs more than memory or more than a
// challenge goes through sipgo as before: credentials, a trunk's address, a
// Session-Expires that may be too brief, the Call-ID and From tag of a call
// the PBX knows, a user not in the cache, a cache of trunks not current.
// So do the retransmissions of an INVITE handed to sipgo (handedOn): they
// belong to its transaction whatever has changed since.
//
// The ACK of a stateless answer to an INVITE matches no transaction.
// Such answers carry a To tag made from the request (statelessTag), by which
// the front knows their ACKs and drops them, rather than hand them to sipgo
// only for the B2BUA to find no dialog.

// answerUDP is offered every screened request read from UDP; it reports
// whether it answered (or absorbed) it in place of sipgo. A panic is handled
// as guarded does: logged, counted, and answered 500 (an ACK is not
// answered).
func (s *Server) answerUDP(req *sip.Request, reply func(*sip.Response)) (answered bool) {
	defer func() {
		if r := recover(); r != nil {
			answered = true
			if req.Method == sip.ACK {
				reply = func(*sip.Response) {}
			}
			s.inlinePanic(req, reply, r)
		}
	}()
	switch req.Method {
	case sip.REGISTER:
		reply = statelessReply(req, reply) // the recovery above answers with it too
		s.registerUDP(req, reply)
		return true
	case sip.INVITE:
		return s.challengeUDP(req, reply, time.Now())
	case sip.ACK:
		return statelessAck(req)
	}
	return false
}

// challengeUDP sends req, a new INVITE without credentials, its challenge
// when memory alone decides that this is the answer; false leaves req to
// sipgo and onInvite.
func (s *Server) challengeUDP(req *sip.Request, reply func(*sip.Response), now time.Time) bool {
	ip := sourceIP(req)
	if s.Guard.Banned(ip) {
		return true // dropped unanswered, as dropBanned does
	}
	if to := req.To(); to == nil || to.Params.Has("tag") || req.GetHeader("Proxy-Authorization") != nil {
		return false
	}
	key := inviteKey(req)
	if s.handedOn.has(key, now) {
		return false
	}
	answer := s.inlineChallenge(req, ip)
	if answer == nil {
		s.handedOn.add(key, now)
		return false
	}
	markStateless(answer)
	reply(answer)
	return true
}

// inlineChallenge is req's challenge when memory alone decides that
// onInvite would answer it so; nil otherwise.
func (s *Server) inlineChallenge(req *sip.Request, ip netip.Addr) *sip.Response {
	if s.B2BUA.KnownCaller(req) || s.B2BUA.TooBriefSession(req) {
		return nil
	}
	if t, known := s.cachedTrunkFor(ip); !known || t != nil {
		return nil
	}
	e, answer, decided := s.authorize(req, true)
	if !decided || e != nil {
		return nil
	}
	return answer
}

// inviteKey is what RFC 3261 §17.2.3 matches an INVITE's server transaction
// on: the top Via's branch and sent-by.
func inviteKey(req *sip.Request) string {
	via := req.Via()
	if via == nil {
		return ""
	}
	branch, _ := via.Params.Get("branch")
	return branch + " " + via.Host + ":" + strconv.Itoa(via.Port)
}

// handedOnFor is how long the front leaves the retransmissions of an INVITE
// it handed to sipgo to sipgo: a client retransmits an INVITE for at most
// Timer B (64*T1, RFC 3261 §17.1.1.2).
var handedOnFor = sip.Timer_B

// recentKeys are the keys of the new INVITEs without credentials that the
// front handed to sipgo, for handedOnFor each.
type recentKeys struct {
	mu    sync.Mutex
	at    map[string]time.Time
	order []keyAt // oldest first, from head
	head  int
}

type keyAt struct {
	key string
	at  time.Time
}

func (r *recentKeys) add(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	r.at[key] = now
	r.order = append(r.order, keyAt{key, now})
}

func (r *recentKeys) has(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[key]
	return ok && now.Sub(at) < handedOnFor
}

// pruneLocked forgets the keys older than handedOnFor.
func (r *recentKeys) pruneLocked(now time.Time) {
	for r.head < len(r.order) && now.Sub(r.order[r.head].at) >= handedOnFor {
		e := r.order[r.head]
		if r.at[e.key] == e.at {
			delete(r.at, e.key)
		}
		r.order[r.head] = keyAt{}
		r.head++
	}
	if r.head > 0 && r.head*2 >= len(r.order) {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

// statelessTagPrefix begins every statelessTag, so most other tags are
// told apart without hashing; an ACK is taken as one only when its whole tag
// matches.
const statelessTagPrefix = "sl"

// dialogHeaders are what a request and its responses share and statelessTag
// is made from.
type dialogHeaders interface {
	CallID() *sip.CallIDHeader
	From() *sip.FromHeader
	Via() *sip.ViaHeader
}

// statelessTag is the To tag of a stateless answer to the request m is, or
// answers: the same for the same request and its retransmissions (RFC 3261
// §8.2.7), and for the ACK of a non-2xx answer, which carries the INVITE's
// Call-ID, From tag and top Via (§17.1.1.3). It is FNV-1a over the three.
func statelessTag(m dialogHeaders) (string, bool) {
	id, from, via := m.CallID(), m.From(), m.Via()
	if id == nil || from == nil || via == nil {
		return "", false
	}
	fromTag, _ := from.Params.Get("tag")
	branch, _ := via.Params.Get("branch")
	return statelessTagPrefix + strconv.FormatUint(fnv64(id.Value(), fromTag, branch), 36), true
}

const fnvPrime = 1099511628211

// fnv64 is FNV-1a over parts, with a zero byte between them, so that they
// cannot run together.
func fnv64(parts ...string) uint64 {
	h := uint64(14695981039346656037)
	for i, part := range parts {
		if i > 0 {
			h *= fnvPrime
		}
		for j := 0; j < len(part); j++ {
			h = (h ^ uint64(part[j])) * fnvPrime
		}
	}
	return h
}

// markStateless gives res, a stateless answer to a request outside a dialog
// (it had no To tag), its statelessTag in place of the tag
// NewResponseFromRequest made.
func markStateless(res *sip.Response) {
	to := res.To()
	if to == nil {
		return
	}
	if tag, ok := statelessTag(res); ok {
		to.Params.Add("tag", tag)
	}
}

// statelessReply is reply giving every answer to req its statelessTag
// (markStateless) when req is outside a dialog, so that a retransmission
// answered again gets the same To tag (RFC 3261 §8.2.7).
func statelessReply(req *sip.Request, reply func(*sip.Response)) func(*sip.Response) {
	if to := req.To(); to == nil || to.Params.Has("tag") {
		return reply
	}
	return func(res *sip.Response) {
		markStateless(res)
		reply(res)
	}
}

// statelessAck reports whether req is the ACK of a stateless answer to an
// INVITE (markStateless).
func statelessAck(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	tag, ok := to.Params.Get("tag")
	if !ok || !strings.HasPrefix(tag, statelessTagPrefix) {
		return false
	}
	want, ok := statelessTag(req)
	return ok && tag == want
}
