package sip

import (
	"runtime/debug"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// guarded is the last line of defence around a SIP handler: a panic is
// logged with its stack and counted, the request gets 500 (RFC 3261 §21.5.1)
// when it can still be answered, and the process goes on.
func (s *Server) guarded(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			s.panics.Add(1)
			method := ""
			if req != nil {
				method = string(req.Method)
			}
			s.log.Error("sip handler panic", "method", method, "panic", r, "stack", string(debug.Stack()))
			if req == nil || tx == nil || req.Method == sip.ACK {
				return
			}
			defer func() { _ = recover() }() // the answer itself must not panic again
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
		}()
		h(req, tx)
	}
}

// Panics counts handler panics since start.
func (s *Server) Panics() uint64 { return s.panics.Load() }

const allowHeader = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO"

// knownMethods are methods defined by RFC 3261 and its extensions that the
// PBX recognises but does not serve: they get 405 with Allow; any other
// method gets 501 (RFC 3261 §8.2.1).
var knownMethods = map[sip.RequestMethod]bool{
	sip.SUBSCRIBE: true, sip.NOTIFY: true, sip.PUBLISH: true, sip.MESSAGE: true,
	sip.PRACK: true, sip.REFER: true,
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	_ = tx.Respond(res)
}

func (s *Server) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	if req.Method == sip.SUBSCRIBE || req.Method == sip.PUBLISH {
		// No event package is served yet (presence and MWI will be):
		// 489 Bad Event (RFC 6665 §8.3.2 for SUBSCRIBE, RFC 3903 §6 for
		// PUBLISH), so a phone stops asking instead of retrying. The
		// Allow-Events header that lists the packages served is left out:
		// its grammar needs at least one (RFC 6665 §8.4).
		_ = tx.Respond(sip.NewResponseFromRequest(req, 489, "Bad Event", nil))
		return
	}
	// MESSAGE, REFER, PRACK, NOTIFY: 405 with Allow, which
	// tells the sender what the PBX does take (RFC 3261 §21.4.6).
	code, reason := sip.StatusMethodNotAllowed, "Method Not Allowed"
	if !knownMethods[req.Method] {
		code, reason = sip.StatusNotImplemented, "Not Implemented"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	_ = tx.Respond(res)
}

// onCancel answers a CANCEL that matches no pending INVITE (sipgo answers
// the ones that do): 481 (RFC 3261 §9.2).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	if s.dropBanned(req, tx) {
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}
