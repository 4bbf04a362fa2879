package sip

import (
	"bytes"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
)

// Every REGISTER over UDP is answered by the front, statelessly (see
// onRegister), without the server transaction, the second parse and the
// goroutine sipgo gives every request. What takes nothing but memory is
// answered on the goroutine that read it: the challenge, and the refresh of
// a binding that reaches the phone the same way as before, which is what
// nearly every REGISTER is. What needs the directory (a user not in the
// cache), may ban its source (a wrong password), or must be stored before
// it is answered (a new, moved or removed binding) is finished on a
// goroutine of its own; until it is answered, its retransmissions are
// absorbed, as its transaction would have absorbed them. Once a REGISTER is
// answered, a retransmission of it is answered again, with the same To tag
// (statelessReply) and, for a challenge, the same nonce
// (auth.Digest.ChallengeRequest): the same answer its transaction would
// have sent again. A retransmission of a REGISTER with credentials reuses
// their nonce-count: it is answered 200 again when it was applied already
// (Registrar.AnswerAgain), changing nothing, and challenged (stale) as a replay
// otherwise.

// bindingsOwner is the extension as the registrar reads it: its ID and SIP
// user name.
func bindingsOwner(e *auth.UserEntry) core.Extension {
	return core.Extension{ID: e.ID, ExtensionSpec: core.ExtensionSpec{SIPUsername: e.Name}}
}

// answerRegister authenticates req and applies it, and sends the answer
// through reply once what must be stored is.
func (s *Server) answerRegister(req *sip.Request, reply func(*sip.Response)) {
	e, answer, _ := s.authorize(req, false)
	if answer != nil {
		reply(answer)
		return
	}
	ext := bindingsOwner(e)
	reply(s.reg.Register(req, &ext))
}

// registerUDP answers req, a REGISTER read from UDP and screened, through
// reply. A panic on the reading goroutine is handled by answerUDP, one on a
// goroutine of its own here, both as guarded does: logged, counted, and
// answered 500.
func (s *Server) registerUDP(req *sip.Request, reply func(*sip.Response)) {
	if s.Guard.Banned(sourceIP(req)) {
		return // dropped unanswered, as dropBanned does
	}
	key := ""
	if s.registering.busy() {
		key = registerKey(req)
		if s.registering.has(key) {
			return
		}
	}
	aside := func(finish func()) {
		if key == "" {
			key = registerKey(req)
		}
		s.registering.add(key)
		go func() {
			defer s.registering.remove(key)
			defer s.recoverInline(req, reply)
			finish()
		}()
	}
	e, answer, decided := s.authorize(req, true)
	switch {
	case !decided:
		aside(func() { s.answerRegister(req, reply) })
		return
	case answer != nil:
		reply(answer)
		return
	}
	ext := bindingsOwner(e)
	if res, ok := s.reg.Refresh(req, &ext); ok {
		reply(res)
		return
	}
	aside(func() { reply(s.reg.Register(req, &ext)) })
}

// registering are the REGISTERs being finished aside, by registerKey.
type registering struct {
	n  atomic.Int64
	mu sync.Mutex
	m  map[string]int
}

// registerKey names a REGISTER and its retransmissions: its source, Via
// branch, Call-ID and CSeq.
func registerKey(req *sip.Request) string {
	branch := ""
	if v := req.Via(); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	var cseq uint32
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	return req.Source() + " " + branch + " " + callID + " " + strconv.FormatUint(uint64(cseq), 10)
}

// busy reports whether any REGISTER is being finished aside.
func (r *registering) busy() bool { return r.n.Load() > 0 }

func (r *registering) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key] > 0
}

func (r *registering) add(key string) {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]int{}
	}
	r.m[key]++
	r.mu.Unlock()
	r.n.Add(1)
}

func (r *registering) remove(key string) {
	r.mu.Lock()
	if r.m[key]--; r.m[key] <= 0 {
		delete(r.m, key)
	}
	r.mu.Unlock()
	r.n.Add(-1)
}

// recoverInline, deferred, handles a panic of a REGISTER finished on a
// goroutine of its own (answerUDP handles those on the reading goroutine).
func (s *Server) recoverInline(req *sip.Request, reply func(*sip.Response)) {
	if r := recover(); r != nil {
		s.inlinePanic(req, reply, r)
	}
}

// inlinePanic does what guarded does with a handler's panic: log it with
// its stack, count it, and answer 500.
func (s *Server) inlinePanic(req *sip.Request, reply func(*sip.Response), r any) {
	s.panics.Add(1)
	s.log.Error("sip handler panic", "method", string(req.Method), "panic", r, "stack", string(debug.Stack()))
	defer func() { _ = recover() }() // the answer itself must not panic again
	res := sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil)
	if req.Method == sip.INVITE {
		markStateless(res)
	}
	reply(res)
}

// replyTo returns a function that sends a response to addr from c, counted
// as the SIP stack's own.
func (c *screenedPacketConn) replyTo(addr net.Addr) func(*sip.Response) {
	return func(res *sip.Response) {
		buf := replyBufs.Get().(*bytes.Buffer)
		buf.Reset()
		res.StringWrite(buf)
		if _, err := c.WriteTo(buf.Bytes(), addr); err != nil {
			c.front.log.Debug("stateless response not sent", "status", res.StatusCode, "to", addr.String(), "error", err)
		}
		replyBufs.Put(buf)
	}
}

var replyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
