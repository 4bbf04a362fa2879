package b2bua

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media/dtmf"
)

// infoDTMFTypes are the INFO bodies the PBX takes within a dialog: the
// legacy DTMF usages of INFO (RFC 6086 §2, §9), which phones still send.
const infoDTMFTypes = "application/dtmf-relay, application/dtmf"

// infoDigit is a digit one party sent by INFO, to be played to the other.
type infoDigit struct {
	to    string // "caller" or "callee": the party who hears it
	digit byte
}

// HandleInfo answers an INFO (RFC 2976, RFC 6086). Within a call's dialog
// a DTMF body is answered 200 and the digit is played to the other party as
// RFC 4733 events; an empty body is a keepalive (200); any other body gets
// 415 with Accept (RFC 3261 §21.4.13). Outside a dialog: 481 (RFC 6086
// §4.2.1).
func (b *B2BUA) HandleInfo(req *sip.Request, tx sip.ServerTransaction) {
	c, d, isA := b.lookup(req)
	if d == nil {
		noCall(req, tx)
		return
	}
	if req.GetHeader("Info-Package") != nil {
		// No Info Package is served (RFC 6086 §4.2.2).
		_ = tx.Respond(sip.NewResponseFromRequest(req, 469, "Bad Info Package", nil))
		return
	}
	if len(req.Body()) == 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct, _, _ = strings.Cut(h.Value(), ";")
		ct = strings.ToLower(strings.TrimSpace(ct))
	}
	var digit byte
	ok := false
	switch ct {
	case "application/dtmf-relay":
		digit, ok = parseDTMFRelay(req.Body())
	case "application/dtmf":
		digit, ok = parseSignal(string(req.Body()))
	default:
		res := sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", infoDTMFTypes))
		_ = tx.Respond(res)
		return
	}
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad DTMF Body", nil))
		return
	}
	// The digit is taken before the INFO is answered: a phone sends its
	// next INFO once this one is answered, and the digits must be heard,
	// reported and played in the order they were pressed.
	c.takeInfoDigit(b, isA, digit)
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// takeInfoDigit reports a digit one party sent by INFO and passes it on: to
// the call plan listening to the caller, or else to the other party.
func (c *Call) takeInfoDigit(b *B2BUA, isA bool, digit byte) {
	from, to := call.ByCallee, "caller"
	if isA {
		from, to = call.ByCaller, "callee"
	}
	if h := b.InfoDTMFHook; h != nil {
		h(c.id, from, digit)
	}
	c.mu.Lock()
	engine, relayed := c.engine, c.relay != nil
	c.mu.Unlock()
	if isA && engine != nil && !relayed {
		// The PBX itself is listening to the caller (a call plan).
		engine.Digit(digit)
		return
	}
	c.queueInfoDigit(infoDigit{to: to, digit: digit})
}

// queueInfoDigit plays digits in the order their INFOs arrived, one
// after the other, through the same path as the API's DTMF control.
func (c *Call) queueInfoDigit(d infoDigit) {
	c.mu.Lock()
	if c.infoDigits == nil {
		c.infoDigits = make(chan infoDigit, 64)
		go c.playInfoDigits(c.infoDigits)
	}
	q := c.infoDigits
	c.mu.Unlock()
	select {
	case q <- d:
	default:
		c.log.Warn("info dtmf queue full, digit dropped", "digit", string(d.digit))
	}
}

func (c *Call) playInfoDigits(q <-chan infoDigit) {
	for {
		select {
		case <-c.ended:
			return
		case d := <-q:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.b2b.SendDTMF(ctx, c.id, d.to, string(d.digit))
			c.mu.Lock()
			up := c.state == call.StateAnswered
			c.mu.Unlock()
			if err != nil && up {
				c.log.Warn("info dtmf not relayed", "party", d.to, "error", err)
			}
			cancel()
		}
	}
}

// parseDTMFRelay reads the Signal line of an application/dtmf-relay body
// ("Signal=5\r\nDuration=160\r\n"). The duration is not carried over: the
// RFC 4733 events last as long as the API's do.
func parseDTMFRelay(body []byte) (byte, bool) {
	for line := range strings.SplitSeq(string(body), "\n") {
		k, v, found := strings.Cut(line, "=")
		if found && strings.EqualFold(strings.TrimSpace(k), "signal") {
			return parseSignal(v)
		}
	}
	return 0, false
}

// parseSignal reads one DTMF digit: 0-9, *, #, A-D, or the event codes 10
// and 11 for * and # that some phones send (RFC 4733 §3.2).
func parseSignal(s string) (byte, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 10 && n <= 15 {
		return dtmf.Digit(uint8(n)), true
	}
	if len(s) != 1 {
		return 0, false
	}
	code, ok := dtmf.Code(s[0])
	if !ok {
		return 0, false
	}
	return dtmf.Digit(code), true
}
