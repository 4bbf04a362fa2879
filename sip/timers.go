package sip

import "github.com/emiago/sipgo/sip"

// An INVITE client transaction that got a 2xx waits Timer M (RFC 6026 §8.4,
// 64*T1: 32 s) for retransmissions of it, holding the INVITE, the 2xx and
// the dialog that ACKs them for as long. The PBX's dialogs acknowledge a 2xx
// retransmitted after the transaction ended themselves (strayResponse,
// B2BUA.ReAck), so the transaction only needs to outlive the first
// retransmissions, at T1 and 3*T1.
const inviteAcceptedFor = 4

func init() {
	sip.Timer_M = inviteAcceptedFor * sip.T1
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
