package sip

import "github.com/emiago/sipgo/sip"

// sipgo keeps an answered INVITE's transactions for 64*T1 (32 s): the
// client one for Timer M (RFC 6026 §8.4), to take retransmissions of the
// 2xx, and the server one for Timer L (§8.7), whose timer sipgo does not
// stop when the transaction is terminated. Each holds the INVITE, its 2xx
// and the sipgo dialog session for as long, so at a few hundred calls a
// second they, not the live calls, would make up most of the memory.
//
//   - Timer M: the PBX's dialogs acknowledge a 2xx retransmitted after the
//     client transaction ended themselves (strayResponse, B2BUA.ReAck), so
//     the transaction only needs to outlive the first retransmissions, at
//     T1 and 3*T1.
//   - Timer L: the PBX ends the server transaction once the caller's ACK is
//     in (the dialog then absorbs retransmitted INVITEs, see
//     B2BUA.Retransmitted). Without an ACK the 2xx is retransmitted while
//     the transaction lasts: at T1, 3*T1, 7*T1 and 15*T1 within 16*T1, after
//     which the call ends for want of an ACK (RFC 3261 §13.3.1.4 allows
//     64*T1; five 2xx and their ACKs all lost is a path no call survives).
//
// sipgo's INVITE server transaction also sends a 100 of its own, from a
// timer, when its handler has not responded within 200 ms (RFC 3261
// §17.2.1). When that timer fires as the handler sends its final response,
// the 100 is refused by the transaction, yet kept as its last response: a
// retransmission of the INVITE then gets the 100 instead of the final
// response, and a caller already past it drops the call (seen under load,
// as a 100 after a 407). The PBX answers every INVITE itself without
// waiting: a challenge or a final response at once, a call's 100 as soon as
// its INVITE is read. So the timer is put off past the time any INVITE
// takes to get its first response (trying1xxAfter), where it never races one.
const (
	inviteAcceptedFor = 4  // Timer M, in T1
	answerAckedWithin = 16 // Timer L, in T1
	trying1xxAfter    = 64 // sipgo's own 100, in T1
)

func init() {
	sip.Timer_M = inviteAcceptedFor * sip.T1
	sip.Timer_L = answerAckedWithin * sip.T1
	sip.Timer_1xx = trying1xxAfter * sip.T1
}

// strayResponse takes a response that matched no client transaction:
// retransmissions, and whatever else arrives. A 2xx to an INVITE whose
// dialog is up gets its ACK again; the rest is dropped without a log line
// each (floods would fill the log).
func (s *Server) strayResponse(res *sip.Response) {
	if b := s.B2BUA; b != nil && res.IsSuccess() {
		b.ReAck(res)
	}
}
