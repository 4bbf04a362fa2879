package main

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/sip/auth"
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
	pstn, err := siptest.New(siptest.Config{User: "+12125550123", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	ctx, cancel := within(20 * time.Second)
	defer cancel()

	out, in := connect(t, ctx, pstn, "+14155550100", phone, 1400, 600)
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
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
		if _, err := pstn.Dial(ctx, tt.dial); err == nil || err.(*siptest.DialError).Code != tt.code {
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

	// A number forwarded to an outside number leaves through the matching outbound route.
	far := carrier(t, p, "127.0.0.11", 0)
	var out2 struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "far", "host": "127.0.0.11", "port": far.Addr().Port(),
		"auth_mode": "ip", "allowed_cidrs": []string{"127.0.0.11/32"}}, &out2); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "e164", "patterns": []string{"+1NXXNXXXXXX"},
		"trunk_ids": []string{out2.ID}}, nil); code != 201 {
		t.Fatalf("create route: %d", code)
	}
	var fwd struct{ ID string }
	if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550101",
		"route": map[string]any{"type": "external_number", "number": "+12125550999"}}, &fwd); code != 201 {
		t.Fatalf("create forwarded number: %d", code)
	}
	out, in = connect(t, ctx, pstn, "+14155550101", far, 1000, 600)
	if got := in.Invite().Recipient.User; got != "+12125550999" {
		t.Fatalf("forwarded to %s", got)
	}
	if got := in.Invite().From().Address.User; got != "+12125550123" {
		t.Fatalf("forwarded call presents %s, want the original caller", got)
	}
	// The forwarded call holds a channel on both trunks while it lasts.
	for _, id := range []string{trunk.ID, out2.ID} {
		var st struct {
			ActiveChannels int `json:"active_channels"`
		}
		if code := p.call("GET", "/v1/trunks/"+id+"/status", nil, &st); code != 200 || st.ActiveChannels != 1 {
			t.Fatalf("trunk %s during the forwarded call: %d, %d channels, want 1", id, code, st.ActiveChannels)
		}
	}
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
	// Its record keeps the trunk it came in on and names the one it left on.
	var fwdList struct {
		Items []struct {
			Direction       string     `json:"direction"`
			TrunkID         string     `json:"trunk_id"`
			OutboundTrunkID string     `json:"outbound_trunk_id"`
			NumberID        string     `json:"number_id"`
			Attempts        int        `json:"trunk_attempts"`
			EndedAt         *time.Time `json:"ended_at"`
		}
	}
	if !eventually(5*time.Second, func() bool {
		p.call("GET", "/v1/call-records?limit=1", nil, &fwdList)
		return len(fwdList.Items) == 1 && fwdList.Items[0].EndedAt != nil
	}) {
		t.Fatal("no finished record of the forwarded call")
	}
	if r := fwdList.Items[0]; r.Direction != "inbound" || r.TrunkID != trunk.ID || r.OutboundTrunkID != out2.ID ||
		r.NumberID != fwd.ID || r.Attempts != 1 {
		t.Fatalf("forwarded call's record: %+v (in on %s, out on %s)", r, trunk.ID, out2.ID)
	}
}

// carrier starts a Go carrier on ip that answers (code 0) or rejects every call.
func carrier(t *testing.T, p *pbx, ip string, code int) *siptest.Phone {
	t.Helper()
	c, err := siptest.New(siptest.Config{User: "carrier", Domain: "carrier.test", PBX: p.sip, ToneHz: 1000, IP: ip, RejectCode: code})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestOutboundFailover: an outbound route with two trunks; the first answers
// 503 and the call fails over to the second; a 486 does not fail over.
func TestOutboundFailover(t *testing.T) {
	p := startPBX(t, time.Minute)
	ext := p.extension("2000", map[string]any{"outbound_caller_id": "+14155550100"})
	phone := p.phone(ext, 600, siptest.AnswerNow, "PCMU")
	down := carrier(t, p, "127.0.0.6", 503)
	up := carrier(t, p, "127.0.0.7", 0)
	busy := carrier(t, p, "127.0.0.8", 486)
	trunk := func(name, ip string) string {
		var tr struct{ ID string }
		host, port := ip, 0
		for _, c := range []*siptest.Phone{down, up, busy} {
			if c.Addr().Addr().String() == ip {
				port = int(c.Addr().Port())
			}
		}
		if code := p.call("POST", "/v1/trunks", map[string]any{"name": name, "host": host, "port": port, "auth_mode": "ip",
			"allowed_cidrs": []string{ip + "/32"}}, &tr); code != 201 {
			t.Fatalf("create trunk %s: %d", name, code)
		}
		return tr.ID
	}
	tDown, tUp, tBusy := trunk("down", "127.0.0.6"), trunk("up", "127.0.0.7"), trunk("busy", "127.0.0.8")
	for _, r := range []map[string]any{
		{"name": "national", "patterns": []string{"9|NXXNXXXXXX"}, "prepend": "+1", "trunk_ids": []string{tDown, tUp}},
		{"name": "busy test", "patterns": []string{"8|NXXNXXXXXX"}, "prepend": "+1", "trunk_ids": []string{tBusy, tUp}},
	} {
		if code := p.call("POST", "/v1/outbound-routes", r, nil); code != 201 {
			t.Fatalf("create route: %d", code)
		}
	}
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, phone, "92125550123", up, 1000, 600)
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
	p.lastRecord()
	var list struct {
		Items []struct {
			Direction   string `json:"direction"`
			ToNumber    string `json:"to_number"`
			TrunkID     string `json:"trunk_id"`
			Attempts    int    `json:"trunk_attempts"`
			Disposition string `json:"disposition"`
			Dialled     string `json:"dialled"`
			CallerID    string `json:"caller_id_presented"`
		}
	}
	p.call("GET", "/v1/call-records?direction=outbound", nil, &list)
	if len(list.Items) != 1 || list.Items[0].TrunkID != tUp || list.Items[0].Attempts != 2 || list.Items[0].ToNumber != "+12125550123" ||
		list.Items[0].Disposition != "answered" || list.Items[0].Dialled != "92125550123" || list.Items[0].CallerID != "+14155550100" {
		t.Fatalf("outbound record: %+v", list)
	}

	// Busy is the callee's answer: no failover to the next trunk.
	_, err := phone.Dial(ctx, "82125550123")
	if de, ok := err.(*siptest.DialError); !ok || de.Code != 486 {
		t.Fatalf("busy: %v", err)
	}
	select {
	case c := <-incomingOf(up):
		t.Fatalf("a busy call failed over: %v", c)
	case <-time.After(300 * time.Millisecond):
	}
	// Nothing matches: 404.
	if _, err := phone.Dial(ctx, "12345678"); err == nil || err.(*siptest.DialError).Code != 404 {
		t.Fatalf("unmatched: %v", err)
	}
	if code := p.call("DELETE", "/v1/trunks/"+tUp, nil, nil); code != 409 {
		t.Fatalf("delete a trunk routes use: %d", code)
	}

	// Calling permissions: international is not in the defaults; emergency numbers always pass.
	if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "international", "patterns": []string{"011|."},
		"prepend": "+", "trunk_ids": []string{tUp}}, nil); code != 201 {
		t.Fatalf("create route: %d", code)
	}
	if _, err := phone.Dial(ctx, "011442079460000"); err == nil || err.(*siptest.DialError).Code != 403 {
		t.Fatalf("international without permission: %v", err)
	}
	rec := p.lastRecord()
	if rec.Disposition != "failed" || rec.HangupCause != "not_permitted_international" || rec.Direction != "outbound" {
		t.Fatalf("refused call record: %+v", rec)
	}
	p.call("PATCH", "/v1/extensions/"+ext.ID, map[string]any{"emergency_callback_number": "+14155550999"}, nil)
	emergency, err := phone.Dial(ctx, "911")
	if err != nil {
		t.Fatalf("911: %v", err)
	}
	in, err = up.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if from := in.Invite().From().Address.User; from != "+14155550999" {
		t.Fatalf("emergency call presented %s", from)
	}
	_ = emergency.Hangup(ctx)
	waitHungUp(t, in)
	// *82 hides the caller ID for one call (RFC 3325 towards the trunk).
	hidden, err := phone.Dial(ctx, "*8292125550123")
	if err != nil {
		t.Fatalf("*82: %v", err)
	}
	in, err = up.Incoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv := in.Invite()
	if inv.From().Address.User != "anonymous" || inv.GetHeader("Privacy") == nil || inv.GetHeader("P-Asserted-Identity") == nil ||
		!strings.Contains(inv.GetHeader("P-Asserted-Identity").Value(), "+14155550100") {
		t.Fatalf("*82 INVITE: %s", inv.String())
	}
	_ = hidden.Hangup(ctx)
	waitHungUp(t, in)
}

// carrierRegistrar is a carrier's registrar: digest-challenged REGISTER for
// one user, OPTIONS answered.
func carrierRegistrar(t *testing.T, ip, user, password string) (netip.AddrPort, *atomic.Int32) {
	t.Helper()
	ua, _ := sipgo.NewUA(sipgo.WithUserAgentHostname(ip))
	srv, _ := sipgo.NewServer(ua)
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close(); conn.Close() })
	d := auth.NewDigest("carrier.test", []string{"MD5"}, time.Minute, nil)
	registered := &atomic.Int32{}
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		var h string
		if a := req.GetHeader("Authorization"); a != nil {
			h = a.Value()
		}
		res := d.Verify("REGISTER", h, func(u string) (string, bool) { return password, u == user })
		switch res.Outcome {
		case auth.OK:
			registered.Add(1)
			ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
			ok.AppendHeader(sip.NewHeader("Expires", "120"))
			_ = tx.Respond(ok)
		case auth.Failed:
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		default:
			ch := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
			ch.AppendHeader(sip.NewHeader("WWW-Authenticate", d.Challenges(false)[0]))
			_ = tx.Respond(ch)
		}
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	dsip.ServeUDP(ua, srv, conn)
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), registered
}

func TestRegisterTrunkLifecycle(t *testing.T) {
	p := startPBX(t, time.Minute, func(c *serveCmd) { c.TrunkRetry = 200 * time.Millisecond })
	addr, registered := carrierRegistrar(t, "127.0.0.10", "acme", "right-secret")
	var trunk struct{ ID string }
	if code := p.call("POST", "/v1/trunks", map[string]any{"name": "acme", "host": addr.Addr().String(), "port": addr.Port(),
		"auth_mode": "register", "username": "acme", "password": "wrong-secret", "register_expires": 300}, &trunk); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	type status struct {
		Registration  string  `json:"registration"`
		LastErrorCode int     `json:"last_error_code"`
		LastError     string  `json:"last_error"`
		Reachable     bool    `json:"reachable"`
		OptionsRTTMs  float64 `json:"options_rtt_ms"`
	}
	var st status
	read := func() status {
		var s status
		p.call("GET", "/v1/trunks/"+trunk.ID+"/status", nil, &s)
		return s
	}
	if !eventually(10*time.Second, func() bool { st = read(); return st.Registration == "failed" && st.LastErrorCode == 403 }) {
		t.Fatalf("wrong password: status %+v", st)
	}
	if code := p.call("PATCH", "/v1/trunks/"+trunk.ID, map[string]any{"password": "right-secret"}, nil); code != 200 {
		t.Fatalf("fix password: %d", code)
	}
	if !eventually(10*time.Second, func() bool { st = read(); return st.Registration == "registered" }) {
		t.Fatalf("after the fix: status %+v", st)
	}
	if st.LastErrorCode != 0 || registered.Load() < 1 || !st.Reachable {
		t.Fatalf("registered status %+v (%d registrations)", st, registered.Load())
	}
	var seen []string
	eventually(5*time.Second, func() bool {
		var hist struct {
			Items []struct {
				Data struct{ Status string } `json:"data"`
			}
		}
		p.call("GET", "/v1/events/history?types=trunk.status_changed", nil, &hist)
		seen = seen[:0]
		for _, e := range hist.Items {
			seen = append(seen, e.Data.Status)
		}
		return len(seen) > 0 && seen[len(seen)-1] == "registered"
	})
	if len(seen) < 3 || seen[len(seen)-1] != "registered" || !strings.Contains(strings.Join(seen, ","), "failed") {
		t.Fatalf("trunk.status_changed: %v", seen)
	}
}
