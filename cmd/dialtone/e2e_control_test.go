package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

func (p *pbx) post(path string, body any, headers ...string) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest("POST", p.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func TestClickToCallAndControl(t *testing.T) {
	p := startPBX(t, time.Minute)
	a, b, c := p.extension("9000", nil), p.extension("9001", nil), p.extension("9002", nil)
	first := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	second := p.phone(b, 1400, siptest.AnswerNow, "PCMA")
	third := p.phone(c, 1000, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(30 * time.Second)
	defer cancel()

	body := map[string]any{"from": a.ID, "to": b.Number}
	code, out := p.post("/v1/calls", body, "Idempotency-Key", "ctc-1")
	if code != 202 {
		t.Fatalf("click-to-call: %d %s", code, out)
	}
	var placed struct{ ID string }
	_ = json.Unmarshal(out, &placed)
	// A retry with the same key gets the same answer and rings nobody again.
	code, again := p.post("/v1/calls", body, "Idempotency-Key", "ctc-1")
	if code != 202 || !bytes.Equal(out, again) {
		t.Fatalf("retry: %d %s", code, again)
	}
	inA, err := first.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inB, err := second.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !inA.WaitHears(ctx, 1400) || !inB.WaitHears(ctx, 600) {
		t.Fatal("the two parties of a click-to-call do not hear each other")
	}
	var live struct{ Items []struct{ ID string } }
	p.call("GET", "/v1/calls", nil, &live)
	if len(live.Items) != 1 || live.Items[0].ID != placed.ID {
		t.Fatalf("live calls after a retried click-to-call: %+v", live)
	}
	select {
	case extra := <-incomingOf(first):
		t.Fatalf("the first party rang twice: %v", extra)
	case <-time.After(300 * time.Millisecond):
	}

	// DTMF to the callee.
	if code, out := p.post("/v1/calls/"+placed.ID+"/dtmf", map[string]any{"digits": "42#", "party": "callee"}); code != 202 {
		t.Fatalf("dtmf: %d %s", code, out)
	}
	if !eventually(3*time.Second, func() bool { return inB.Digits() == "42#" }) {
		t.Fatalf("callee heard digits %q", inB.Digits())
	}
	// Hold and resume: both phones are told.
	if code, out := p.post("/v1/calls/"+placed.ID+"/hold", nil); code != 202 {
		t.Fatalf("hold: %d %s", code, out)
	}
	if inA.RemoteDirection() != sdp.SendOnly || inB.RemoteDirection() != sdp.SendOnly {
		t.Fatalf("hold directions: %s %s", inA.RemoteDirection(), inB.RemoteDirection())
	}
	if code, _ := p.post("/v1/calls/"+placed.ID+"/resume", nil); code != 202 {
		t.Fatalf("resume: %d", code)
	}
	if !inA.WaitHears(ctx, 1400) || !inB.WaitHears(ctx, 600) {
		t.Fatal("no audio after resume")
	}
	// Blind transfer: the callee is released, the first party now talks to 9002.
	if code, out := p.post("/v1/calls/"+placed.ID+"/transfer", map[string]any{"to": c.Number, "party": "callee"}); code != 202 {
		t.Fatalf("transfer: %d %s", code, out)
	}
	inC, err := third.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, inB)
	if !inA.WaitHears(ctx, 1000) || !inC.WaitHears(ctx, 600) {
		t.Fatal("no audio after transfer")
	}
	if err := inA.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, inC)

	var types []string
	eventually(5*time.Second, func() bool {
		var hist struct {
			Items []struct {
				Type string `json:"type"`
			}
		}
		p.call("GET", "/v1/events/history?types=call.*&limit=50", nil, &hist)
		types = types[:0]
		for _, e := range hist.Items {
			types = append(types, e.Type)
		}
		return len(types) > 0 && types[len(types)-1] == "call.ended"
	})
	want := []string{"call.created", "call.ringing", "call.answered", "call.held", "call.resumed", "call.transferred", "call.ended"}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	rec := p.lastRecord()
	if rec.ID != placed.ID || rec.Disposition != "answered" || rec.HangupBy != "caller" {
		t.Fatalf("record: %+v", rec)
	}

	// Errors name what is wrong.
	tests := []struct {
		body any
		code int
	}{
		{map[string]any{"from": "9000", "to": "12345"}, 422},
		{map[string]any{"from": "7777", "to": "9001"}, 422},
		{map[string]any{"from": "9000"}, 422},
	}
	for _, tt := range tests {
		if code, out := p.post("/v1/calls", tt.body); code != tt.code {
			t.Fatalf("%v: %d %s", tt.body, code, out)
		}
	}
	p.extension("9003", nil) // no phone registered
	if code, _ := p.post("/v1/calls", map[string]any{"from": "9003", "to": "9001"}); code != 409 {
		t.Fatalf("unregistered from: %d", code)
	}
}

func incomingOf(ph *siptest.Phone) <-chan *siptest.Call {
	ch := make(chan *siptest.Call, 1)
	go func() {
		ctx, cancel := within(300 * time.Millisecond)
		defer cancel()
		if c, err := ph.Incoming(ctx); err == nil {
			ch <- c
		}
	}()
	return ch
}
