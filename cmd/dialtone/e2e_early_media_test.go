package main

import (
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestEarlyMediaFromCarrier: a carrier plays 3 s of early media (183 with
// SDP, RFC 3960) before it answers. The caller hears the carrier's tone
// while the call rings, before the 200 arrives, and the answer brings no
// burst of stale packets: the early stream was relayed live and goes on
// at its pace (the first 50 packets after the 200 each within 40 ms of the
// one before, spread over about a second).
func TestEarlyMediaFromCarrier(t *testing.T) {
	p := startPBX(t, time.Minute)
	ext := p.extension("2000", map[string]any{"outbound_caller_id": "+14155550100"})
	phone, err := siptest.New(siptest.Config{User: ext.Number, Password: ext.SIPPassword, Domain: "pbx.test", PBX: p.sip,
		ToneHz: 600, EarlyMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(phone.Close)
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	if res, err := phone.Register(ctx, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	const ip = "127.0.0.45"
	carrier, err := siptest.New(siptest.Config{User: "carrier", Domain: "carrier.test", PBX: p.sip, ToneHz: 1000, IP: ip,
		EarlyMedia: true, RingFor: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(carrier.Close)
	var tr struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "early", "host": ip, "port": int(carrier.Addr().Port()),
		"auth_mode": "ip", "allowed_cidrs": []string{ip + "/32"}}, &tr); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"},
		"prepend": "+1", "trunk_ids": []string{tr.ID}}, nil); code != 201 {
		t.Fatalf("create route: %d", code)
	}

	dialled := time.Now()
	out, err := phone.Dial(ctx, "92125550123")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	answered := out.AnsweredAt()
	if ringing := answered.Sub(dialled); ringing < 2500*time.Millisecond {
		t.Fatalf("answered after %v, the carrier rings 3 s", ringing)
	}
	if !out.HeardEarly(1000) {
		t.Fatal("the caller did not hear the carrier's early media before the 200")
	}
	var early, late []time.Time
	deadline := time.Now().Add(5 * time.Second)
	for len(late) < 51 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		early, late = early[:0], late[:0]
		for _, a := range out.Arrivals() {
			if a.Before(answered) {
				early = append(early, a)
			} else {
				late = append(late, a)
			}
		}
	}
	if len(early) < 100 {
		t.Fatalf("%d packets of early media before the 200, want about 150", len(early))
	}
	if len(late) < 51 {
		t.Fatalf("%d packets after the 200", len(late))
	}
	// The first 50 packets after the 200: each within 40 ms of the one
	// before it (the last early packet for the first), and together as
	// long as the audio they carry: a replay of queued audio would arrive
	// all at once.
	prev := early[len(early)-1]
	for i, a := range late[:50] {
		if gap := a.Sub(prev); gap > 40*time.Millisecond {
			t.Errorf("packet %d after the 200 came %v after the one before", i, gap)
		}
		prev = a
	}
	if span := late[49].Sub(late[0]); span < 800*time.Millisecond {
		t.Errorf("50 packets after the 200 arrived within %v: a burst, not 20 ms audio", span)
	}
	burst := 0
	for _, a := range late[:50] {
		if a.Sub(answered) < 100*time.Millisecond {
			burst++
		}
	}
	if burst > 8 {
		t.Errorf("%d packets within 100 ms of the 200", burst)
	}

	in, err := carrier.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, 1000) || !in.WaitHears(ctx, 600) {
		t.Fatal("after the answer the parties do not hear each other")
	}
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
	rec := p.lastRecord()
	if rec.Disposition != "answered" || rec.AnsweredAt == nil {
		t.Fatalf("record: %+v", rec)
	}
	if ring := rec.RingSeconds; ring < 2.5 {
		t.Fatalf("ring_seconds %v, want about 3", ring)
	}
}
