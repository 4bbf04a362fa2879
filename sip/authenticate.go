package sip

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
)

func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// dropBanned silently drops a request from a banned address: no response, so
// a scanner learns nothing.
func (s *Server) dropBanned(req *sip.Request, tx sip.ServerTransaction) bool {
	if !s.Guard.Banned(sourceIP(req)) {
		return false
	}
	tx.Terminate()
	return true
}

// authenticate checks a request's digest credentials (RFC 3261 §22).
// REGISTER is challenged with 401 (WWW-Authenticate), other requests with
// 407 (Proxy-Authenticate). It responds itself and returns nil unless the
// caller may go on.
//
// Nonces are bound to the source address, so only a wrong answer to a nonce
// this process sent to that same address counts against it in the guard: a
// packet with a forged source carries no such nonce and cannot get its
// victim banned. Challenges and refusals are sent statelessly (see
// respondStateless), so a forged INVITE gets one 407, not a train of
// retransmissions towards its victim.
//
// What it returns is the cached entry of the user (see auth.Users): the
// extension's ID and SIP user name, not the whole extension.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction) *auth.UserEntry {
	e, answer, _ := s.authorize(req, false)
	if answer != nil {
		s.respondStateless(tx, answer)
		return nil
	}
	return e
}

// authorize decides about a request's credentials: the user it may go on
// as, or else the answer to send. With fromMemory it reads only the cache of
// users and leaves failed answers alone: decided is false when it needed the
// directory or saw a failure (which may ban its source and is logged), and
// then nothing was done, so the request can be authorized again the ordinary
// way.
func (s *Server) authorize(req *sip.Request, fromMemory bool) (entry *auth.UserEntry, answer *sip.Response, decided bool) {
	proxy := req.Method != sip.REGISTER
	hdr := "Authorization"
	if proxy {
		hdr = "Proxy-Authorization"
	}
	var value string
	if h := req.GetHeader(hdr); h != nil {
		value = h.Value()
	}
	missed := false
	users := func(name string) *auth.UserEntry {
		if !fromMemory {
			return s.users.Get(context.Background(), name)
		}
		e, ok := s.users.Cached(name)
		if !ok {
			missed = true
		}
		return e
	}
	ip := sourceIP(req)
	res := s.digest.Check(auth.Request{Method: string(req.Method), Header: value, Source: ip}, func(user string) (auth.User, bool) {
		e := users(user)
		if e == nil || !e.Known() {
			return auth.User{}, false
		}
		entry = e
		return e.User, true
	})
	if missed || fromMemory && res.Outcome == auth.Failed {
		return nil, nil, false
	}
	if res.Replayed && !proxy && entry != nil && entry.Enabled {
		// A REGISTER already applied, sent again (a retransmission): it is
		// answered again as its transaction would have, and not applied
		// again (a binding that expired meanwhile stays expired); its
		// source earns nothing with the guard or the flood screen.
		ext := bindingsOwner(entry)
		if again := s.reg.AnswerAgain(req, &ext); again != nil {
			return nil, again, true
		}
	}
	switch res.Outcome {
	case auth.OK:
		s.Guard.Succeed(ip)
		s.front.flood.trust(ip)
		if !entry.Enabled {
			return nil, sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil), true
		}
		return entry, nil, true
	case auth.Failed:
		if s.Guard.Fail(ip) {
			s.log.Warn("sip address banned after repeated authentication failures", "ip", ip.String(), "security", true)
			return nil, sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil), true
		}
		if proxy {
			// A call from a source that is neither a trunk nor an extension
			// that can authenticate: refuse it (phones retry REGISTER instead).
			s.log.Warn("call refused: authentication failed", "ip", ip.String(), "method", string(req.Method), "security", true)
			return nil, sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil), true
		}
	}
	// Failed REGISTER, Stale, and Missing or Foreign (part of the exchange,
	// not a failure): a challenge, stale when the password was right.
	user := res.Username
	if user == "" {
		user = requestUser(req)
	}
	var algs []string
	if user != "" {
		e := users(user)
		if missed {
			return nil, nil, false
		}
		if e != nil {
			algs = e.Challenge
		}
	}
	return nil, s.challenge(req, algs, res.Outcome == auth.Stale), true
}

// challenge is a 401 or 407 to req offering algs (nil: the server's). The
// algorithms are those of the user it is for: the user its credentials name,
// else the To user of a REGISTER or the From user of another request.
// Unknown users and extensions without a list of their own get the server's
// algorithms, so they cannot be told apart; an extension with its own list
// can be recognised by its challenge.
func (s *Server) challenge(req *sip.Request, algs []string, stale bool) *sip.Response {
	code, reason, hdr := sip.StatusUnauthorized, "Unauthorized", "WWW-Authenticate"
	if req.Method != sip.REGISTER {
		code, reason, hdr = sip.StatusProxyAuthRequired, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, c := range s.digest.ChallengeRequest(sourceIP(req), algs, stale, requestKey(req)) {
		res.AppendHeader(sip.NewHeader(hdr, c))
	}
	return res
}

// requestKey names req and its retransmissions for its challenge
// (auth.Digest.ChallengeRequest): FNV-1a over its Call-ID, From tag, top
// Via branch, CSeq and method; 0 when it lacks any of them.
func requestKey(req *sip.Request) uint64 {
	id, from, via, cseq := req.CallID(), req.From(), req.Via(), req.CSeq()
	if id == nil || from == nil || via == nil || cseq == nil {
		return 0
	}
	fromTag, _ := from.Params.Get("tag")
	branch, _ := via.Params.Get("branch")
	h := fnv64(id.Value(), fromTag, branch, string(req.Method))
	h = (h ^ uint64(cseq.SeqNo)) * fnvPrime
	if h == 0 {
		h = 1
	}
	return h
}

// requestUser is the user a request without credentials is from: the To user
// of a REGISTER (the address of record, RFC 3261 §10.2), the From user of
// anything else.
func requestUser(req *sip.Request) string {
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil {
			return to.Address.User
		}
		return ""
	}
	if from := req.From(); from != nil {
		return from.Address.User
	}
	return ""
}

// CacheCredentials turns on the cache of what digest authentication reads
// about extensions (HA1 values, algorithms, ID, enabled) and returns the
// function every extension change must be reported to, after it is stored:
// core.Extensions.OnChange. Until it is called, each request reads its
// extension from the directory.
//
// It fills the cache with every extension in one pass over the directory
// before returning, so that no phone's first REGISTER reads the database;
// extensions created later are read on first use. When that pass fails, it
// logs and leaves every extension to be read on first use.
func (s *Server) CacheCredentials() func(before, after *core.Extension) {
	s.users.Enable()
	ctx, cancel := context.WithTimeout(context.Background(), preloadTimeout)
	defer cancel()
	start := time.Now()
	if n, err := s.users.Preload(ctx, s.dir.EachExtension); err != nil {
		s.log.Warn("sip credentials not preloaded: read on first use", "error", err)
	} else {
		s.log.Debug("sip credentials preloaded", "names", n, "took", time.Since(start))
	}
	return s.users.ExtensionChanged
}

// preloadTimeout bounds the pass of CacheCredentials over every extension.
const preloadTimeout = time.Minute

// respondStateless sends res on the connection req came in on and ends the
// server transaction at once, so nothing retransmits it: RFC 3261 §8.2.7
// lets a UAS answer statelessly, typically with challenges. A retransmitted
// request is answered again, with the same challenge (auth.Digest remembers
// the nonces it gave each request for a few seconds), and a request with a
// forged source makes the PBX send one response to its victim, not the ten
// or so of timer G over 32 s (RFC 3261 §17.2.1). An INVITE's ACK then matches no
// transaction; the answer's To tag (markStateless) lets the UDP front drop
// it on sight.
func (s *Server) respondStateless(tx sip.ServerTransaction, res *sip.Response) {
	if cs := res.CSeq(); cs != nil && cs.MethodName == sip.INVITE {
		markStateless(res)
	}
	var err error
	if c, ok := tx.(interface{ Connection() sip.Connection }); ok && c.Connection() != nil {
		err = c.Connection().WriteMsg(res)
	} else {
		err = s.ua.TransportLayer().WriteMsg(res)
	}
	if err != nil {
		s.log.Debug("stateless response not sent", "status", res.StatusCode, "to", res.Destination(), "error", err)
	}
	tx.Terminate()
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	// The answer is stateless too: a registrar's work is idempotent, so a
	// transaction kept for timer J (32 s over UDP, RFC 3261 §17.2.2) only to
	// absorb retransmissions would cost far more memory than the binding it
	// answers for. A retransmission, sent when this 200 was lost, reuses its
	// nonce-count and is answered 200 again without being applied again
	// (see authorize). Over
	// UDP, REGISTERs do not come here: the front answers them
	// (registerinline.go).
	s.answerRegister(req, func(res *sip.Response) { s.respondStateless(tx, res) })
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			s.B2BUA.HandleReinvite(req, tx)
			return
		}
	}
	if s.B2BUA.Retransmitted(req, tx) {
		return
	}
	if s.B2BUA.RefuseBriefSession(req, tx) {
		return
	}
	if t := s.trunkFor(req); t != nil {
		s.inbound(req, tx, t)
		return
	}
	e := s.authenticate(req, tx)
	if e == nil {
		return
	}
	ext, err := s.dir.GetExtension(context.Background(), e.ID)
	switch {
	case errors.Is(err, core.ErrNotFound) || err == nil && (!ext.Enabled || ext.SIPUsername != e.Name):
		// Changed since its credentials were checked: deleted, disabled or renamed.
		s.respondStateless(tx, sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return
	case err != nil:
		s.log.Error("read the calling extension", "extension", string(e.ID), "error", err)
		s.respondStateless(tx, sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Error", nil))
		return
	}
	ext.SIPPassword = ""
	s.B2BUA.HandleInvite(req, tx, ext)
}
