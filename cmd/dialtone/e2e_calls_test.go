package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// count counts the entries of a phone's received list equal to what.
func count(received []string, what string) int {
	n := 0
	for _, r := range received {
		if r == what {
			n++
		}
	}
	return n
}

// TestCallCancelCrossesAnswer has the callee answer at the very moment the
// PBX's CANCEL reaches it, which the caller's CANCEL set off: the caller
// gets 200 (CANCEL) and 487 and never a 2xx or a BYE, the callee's
// dialog is acknowledged and hung up, and the record says cancelled.
// DIALTONE_CANCEL_RACE sets the number of calls (default 50).
func TestCallCancelCrossesAnswer(t *testing.T) {
	n := 50
	if v := os.Getenv("DIALTONE_CANCEL_RACE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("DIALTONE_CANCEL_RACE=%q is not a positive number", v)
		}
	}
	p := startPBX(t, 60*time.Second)
	a := p.extension("4100", nil)
	b := p.extension("4101", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerOnCancel, "PCMU")
	for i := range n {
		caller.ClearReceived()
		callee.ClearReceived()
		ctx, cancel := within(20 * time.Second)
		dialled := make(chan error, 1)
		go func() {
			_, err := caller.Dial(ctx, b.Number)
			dialled <- err
		}()
		if !eventually(5*time.Second, func() bool { return callee.Ringing() == 1 }) {
			cancel()
			t.Fatalf("call %d: the callee does not ring", i)
		}
		cancel()
		if err := <-dialled; err == nil {
			t.Fatalf("call %d: the caller's cancelled call was answered", i)
		}
		wait, stop := within(10 * time.Second)
		in, err := callee.Incoming(wait)
		stop()
		if err != nil {
			t.Fatalf("call %d: the callee's 200 was not acknowledged: %v (callee received %s)", i, err, strings.Join(callee.Received(), ", "))
		}
		waitHungUp(t, in)
		rec := p.lastRecord()
		if rec.Disposition != "cancelled" || rec.HangupCause != "caller_cancel" || rec.HangupBy != "caller" || rec.AnsweredAt != nil {
			t.Fatalf("call %d: record %+v", i, rec)
		}
		time.Sleep(50 * time.Millisecond) // a stray BYE or 2xx would be here by now
		got := caller.Received()
		if count(got, "BYE") != 0 || count(got, "200 INVITE") != 0 || count(got, "487 INVITE") == 0 || count(got, "200 CANCEL") == 0 {
			t.Fatalf("call %d: the caller received %s", i, strings.Join(got, ", "))
		}
		got = callee.Received()
		if count(got, "ACK") == 0 || count(got, "BYE") != 1 || count(got, "CANCEL") == 0 {
			t.Fatalf("call %d: the callee received %s", i, strings.Join(got, ", "))
		}
	}
	var hist struct{ Items []struct{ Type string } }
	p.call("GET", "/v1/events/history?types=call.answered&limit=10", nil, &hist)
	if len(hist.Items) != 0 {
		t.Fatalf("%d call.answered events for cancelled calls", len(hist.Items))
	}
	p.call("GET", "/v1/events/history?types=call.ended&limit=500", nil, &hist)
	if len(hist.Items) != n {
		t.Fatalf("%d call.ended events for %d calls", len(hist.Items), n)
	}
	t.Logf("%d calls: CANCEL crossed the callee's 200 each time; every record cancelled, no BYE to the caller, the callee got ACK and BYE", n)
}
