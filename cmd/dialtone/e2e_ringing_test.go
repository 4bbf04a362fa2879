package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestCallRingsBeforeAnswer: every answered call publishes call.created,
// call.ringing, call.answered and call.ended, once each and in that order,
// however its callee answers: after a 180, at once without any provisional
// (the PBX then publishes call.ringing with the answer, as it does when a
// 180 reaches it after the 200), or after early media in a 183.
func TestCallRingsBeforeAnswer(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	a := p.extension("4300", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	cases := []struct {
		name   string
		number string
		cfg    siptest.Config
	}{
		{"rings then answers", "4301", siptest.Config{ToneHz: 1400, Answer: siptest.AnswerNow}},
		{"answers without a provisional", "4302", siptest.Config{ToneHz: 1400, Answer: siptest.AnswerNow, Silent: true}},
		{"answers at once without a provisional", "4303", siptest.Config{ToneHz: 1400, Answer: siptest.AnswerNow, Silent: true, RingFor: time.Nanosecond}},
		{"early media then answers", "4304", siptest.Config{ToneHz: 1400, Answer: siptest.AnswerNow, EarlyMedia: true, RingFor: 200 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := p.extension(tc.number, nil)
			callee := p.phoneWith(b, tc.cfg)
			ctx, cancel := within(20 * time.Second)
			defer cancel()
			out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
			if err := out.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			waitHungUp(t, in)
			rec := p.lastRecord()
			if rec.Disposition != "answered" {
				t.Fatalf("record %+v", rec)
			}
			var types []string
			eventually(5*time.Second, func() bool {
				types = p.callEvents(rec.ID)
				return len(types) > 0 && types[len(types)-1] == "call.ended"
			})
			if got := strings.Join(types, ","); got != "call.created,call.ringing,call.answered,call.ended" {
				t.Fatalf("events of the call: %s", got)
			}
		})
	}
}

// callEvents lists the types of the call.* events of call id, in order.
func (p *pbx) callEvents(id string) []string {
	p.t.Helper()
	var hist struct {
		Items []struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
	}
	p.call("GET", "/v1/events/history?types=call.*&limit=500", nil, &hist)
	var types []string
	for _, e := range hist.Items {
		var d struct {
			CallID string `json:"call_id"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.CallID == id {
			types = append(types, e.Type)
		}
	}
	return types
}
