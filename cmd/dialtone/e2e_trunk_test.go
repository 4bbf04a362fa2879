package main

import (
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestInboundFromIPTrunk: a carrier on 127.0.0.5 (an IP trunk) calls the
// PBX's numbers; the number's route decides where the call goes.
func TestInboundFromIPTrunk(t *testing.T) {
	p := startPBX(t, time.Minute)
	desk := p.extension("1001", nil)
	phone := p.phone(desk, 1400, siptest.AnswerNow, "PCMA")
	var trunk struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.5", "auth_mode": "ip",
		"allowed_cidrs": []string{"127.0.0.5/32"}}, &trunk); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	var main, closed struct{ ID, Number, Kind string }
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "(415) 555-0100", "trunk_id": trunk.ID,
		"route": map[string]any{"type": "extension", "extension_id": desk.ID}}, &main); code != 201 || main.Number != "+14155550100" {
		t.Fatalf("create number: %d %+v", code, main)
	}
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+18005550199", "route": map[string]any{"type": "reject"}}, &closed); code != 201 || closed.Kind != "toll_free" {
		t.Fatalf("create toll-free number: %d %+v", code, closed)
	}
	carrier, err := siptest.New(siptest.Config{User: "+12125550123", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	defer carrier.Close()
	ctx, cancel := within(20 * time.Second)
	defer cancel()

	out, err := carrier.Dial(ctx, "+14155550100")
	if err != nil {
		t.Fatal(err)
	}
	in, err := phone.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
		t.Fatal("no audio between the carrier and the extension")
	}
	_ = out.Hangup(ctx)
	<-in.HungUp()
	p.lastRecord()
	var list struct {
		Items []struct {
			Direction   string `json:"direction"`
			FromNumber  string `json:"from_number"`
			ToNumber    string `json:"to_number"`
			TrunkID     string `json:"trunk_id"`
			NumberID    string `json:"number_id"`
			Disposition string `json:"disposition"`
		}
	}
	p.call("GET", "/v1/call-records?direction=inbound", nil, &list)
	if len(list.Items) != 1 || list.Items[0].TrunkID != trunk.ID || list.Items[0].NumberID != main.ID ||
		list.Items[0].FromNumber != "+12125550123" || list.Items[0].ToNumber != "+14155550100" || list.Items[0].Disposition != "answered" {
		t.Fatalf("inbound record: %+v", list)
	}

	tests := []struct {
		dial string
		code int
	}{
		{"+18005550199", 603}, // routed to reject
		{"+14155550111", 404}, // not one of our numbers
	}
	for _, tt := range tests {
		if _, err := carrier.Dial(ctx, tt.dial); err == nil || err.(*siptest.DialError).Code != tt.code {
			t.Fatalf("%s: want %d, got %v", tt.dial, tt.code, err)
		}
	}
	// The extension cannot be deleted while a number routes to it, nor the trunk while numbers use it.
	if code := p.call("DELETE", "/v1/extensions/"+desk.ID, nil, nil); code != 409 {
		t.Fatalf("delete routed extension: %d", code)
	}
	if code := p.call("DELETE", "/v1/trunks/"+trunk.ID, nil, nil); code != 409 {
		t.Fatalf("delete used trunk: %d", code)
	}
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550100", "route": map[string]any{"type": "reject"}}, nil); code != 409 {
		t.Fatalf("duplicate number: %d", code)
	}
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "12", "route": map[string]any{"type": "reject"}}, nil); code != 422 {
		t.Fatalf("bad number: %d", code)
	}
}
