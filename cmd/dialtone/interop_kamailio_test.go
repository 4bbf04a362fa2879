package main

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// Kamailio plays a carrier for the trunk tests: a digest registrar and proxy
// (interop/kamailio/kamailio.cfg) on a loopback address of its own, with a
// Go phone behind it as the PSTN.
const (
	kamIP   = "127.0.0.20"
	kamPort = 25460
	pstnIP  = "127.0.0.21"
	// The PBX listens on an address of its own, so a TCP connection leaving
	// from anywhere else (127.0.0.1, the kernel's choice) is seen, and
	// refused, by the carrier.
	kamPBXIP = "127.0.0.30"
	kamRealm = "carrier.test"
)

// kamailio is one running Kamailio and its log.
type kamailio struct {
	mu  sync.Mutex
	log bytes.Buffer
}

func (k *kamailio) Write(b []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.log.Write(b)
}

// count is how many log lines contain every one of parts.
func (k *kamailio) count(parts ...string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, line := range strings.Split(k.log.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func (k *kamailio) tail() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return string(tail(k.log.Bytes(), 4000))
}

// startKamailio runs Kamailio with the carrier configuration, the given
// subscribers (user → password) and placeholders, until the test ends. A
// call from the PBX goes to the PSTN phone of its number in numbers, else
// to pstn. Kamailio runs in a process group of its own, stopped as a whole.
func startKamailio(t *testing.T, pstn netip.AddrPort, numbers map[string]netip.AddrPort, trunkUser string, subscribers [][2]string) *kamailio {
	t.Helper()
	requireTool(t, "kamailio")
	src, _ := filepath.Abs(filepath.Join("..", "..", "interop", "kamailio"))
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"version", "subscriber"} {
		b, err := os.ReadFile(filepath.Join(src, "db", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "subscriber" {
			for i, s := range subscribers {
				b = fmt.Appendf(b, "%d:%s:%s:%s:::\n", i+1, s[0], kamRealm, s[1])
			}
		}
		writeFile(t, db, name, string(b))
	}
	cfg, err := os.ReadFile(filepath.Join(src, "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var routes strings.Builder
	for _, n := range slices.Sorted(maps.Keys(numbers)) {
		fmt.Fprintf(&routes, "\tif ($rU == \"%s\") {\n\t\t$du = \"sip:%s\";\n\t}\n", n, numbers[n])
	}
	r := strings.NewReplacer("@PSTN_NUMBERS@", routes.String(), "@IP@", kamIP, "@PORT@", fmt.Sprint(kamPort), "@DB@", db, "@PBX@", kamPBXIP,
		"@PSTN@", pstn.Addr().String(), "@PSTN_PORT@", fmt.Sprint(pstn.Port()), "@TRUNK_USER@", trunkUser)
	cfgPath := writeFile(t, dir, "kamailio.cfg", r.Replace(string(cfg)))
	k := &kamailio{}
	cmd := exec.Command("kamailio", "-f", cfgPath, "-DD", "-E", "-m", "32", "-M", "8", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	cmd.Stdout, cmd.Stderr = k, k
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	up := eventually(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", kamIP, kamPort), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if !up {
		t.Fatalf("kamailio did not start:\n%s", k.tail())
	}
	return k
}

// carrierPhone is a PSTN phone behind the carrier, on the PSTN's address.
func carrierPhone(t *testing.T, cfg siptest.Config) *siptest.Phone {
	t.Helper()
	cfg.Domain, cfg.PBX, cfg.IP = kamRealm, netip.MustParseAddrPort(fmt.Sprintf("%s:%d", kamIP, kamPort)), pstnIP
	ph, err := siptest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	return ph
}

// trunkRecord is the newest finished call record with its trunk fields.
type trunkRecord struct {
	callRecord
	TrunkID  string `json:"trunk_id"`
	Attempts int    `json:"trunk_attempts"`
}

func (p *pbx) lastTrunkRecord() trunkRecord {
	p.t.Helper()
	var r trunkRecord
	if code := p.call("GET", "/v1/call-records/"+p.lastRecord().ID, nil, &r); code != 200 {
		p.t.Fatalf("get call record: %d", code)
	}
	return r
}

type trunkStatus struct {
	Registration  string `json:"registration"`
	LastErrorCode int    `json:"last_error_code"`
	LastError     string `json:"last_error"`
}

func (p *pbx) trunkStatus(id string) trunkStatus {
	var s trunkStatus
	p.call("GET", "/v1/trunks/"+id+"/status", nil, &s)
	return s
}

// TestInteropKamailioTrunk: register trunks over UDP and over TCP at a
// Kamailio carrier with digest auth (auth_check flag 1: From user = auth
// user); a PSTN call comes in through the carrier to the registered contact
// and is matched by To; an outbound call goes out with the trunk's From
// user and codecs, after a trunk the carrier refuses fails over. A call
// whose To names no number goes to the trunk's only number. Wrong
// credentials end a registration at once with trunk_auth_failed. Early
// media crosses the carrier both ways (183 with SDP, heard before the
// 200), and with a short session timer granted by the PSTN, the PBX's
// refreshes pass the carrier within the dialog and keep the call up.
func TestInteropKamailioTrunk(t *testing.T) {
	requireTool(t, "kamailio")
	p := startPBX(t, time.Minute, func(c *serveCmd) { c.SIP = kamPBXIP + ":0"; c.TrunkRetry = time.Minute })
	desk := p.extension("1001", map[string]any{"outbound_caller_id": "+14155550100"})
	phone := p.phone(desk, 600, siptest.AnswerNow, "PCMU")
	pstn := carrierPhone(t, siptest.Config{User: "+12125550123", ToneHz: 1000, Codecs: siptest.ParseCodecs("PCMA,PCMU")})
	// A PSTN line that plays early media (183 with SDP and its tone) for
	// 2 s before it answers, and takes early media when it calls.
	const earlyNumber = "+12125550124"
	earlyPSTN := carrierPhone(t, siptest.Config{User: earlyNumber, ToneHz: 1000, EarlyMedia: true, RingFor: 2 * time.Second})
	// A PSTN line that grants a 2 s session timer with the caller as
	// refresher.
	const timerNumber = "+12125550125"
	timerPSTN := carrierPhone(t, siptest.Config{User: timerNumber, ToneHz: 1000, SessionExpires: 2, Refresher: "uac"})
	const password = "carrier-secret"
	k := startKamailio(t, pstn.Addr(), map[string]netip.AddrPort{earlyNumber: earlyPSTN.Addr(), timerNumber: timerPSTN.Addr()},
		"acme", [][2]string{{"acme", password}, {"acmebad", password}})
	createOn := func(p *pbx, body map[string]any) string {
		t.Helper()
		var tr struct{ ID string }
		if code := p.call("POST", "/v1/trunks", body, &tr); code != 201 {
			t.Fatalf("create trunk %v: %d", body, code)
		}
		return tr.ID
	}
	create := func(body map[string]any) string { t.Helper(); return createOn(p, body) }
	addRoute := func(p *pbx, trunk string) {
		t.Helper()
		if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"},
			"prepend": "+1", "trunk_ids": []string{trunk}}, nil); code != 201 {
			t.Fatalf("create route: %d", code)
		}
	}

	t.Run("registration refused", func(t *testing.T) {
		tests := []struct {
			name      string
			password  string
			realm     string
			code      int
			registers int // REGISTERs the carrier sees: none is sent twice
		}{
			{"wrong password", "wrong-secret", "", 401, 2},
			{"realm not the carrier's", password, "other.test", 401, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := k.count("REGISTER from "+kamPBXIP, "from=acmebad")
				id := create(map[string]any{"name": "refused", "host": kamIP, "port": kamPort, "auth_mode": "register",
					"username": "acmebad", "password": tt.password, "realm": tt.realm})
				defer p.call("DELETE", "/v1/trunks/"+id, nil, nil)
				var st trunkStatus
				if !eventually(10*time.Second, func() bool { st = p.trunkStatus(id); return st.Registration == "failed" }) {
					t.Fatalf("status %+v\n%s", st, k.tail())
				}
				time.Sleep(500 * time.Millisecond)
				if n := k.count("REGISTER from "+kamPBXIP, "from=acmebad") - before; n != tt.registers ||
					st.LastErrorCode != tt.code || !strings.HasPrefix(st.LastError, "trunk_auth_failed") {
					t.Fatalf("status %+v after %d REGISTERs\n%s", st, n, k.tail())
				}
			})
		}
	})

	tests := []struct {
		transport string
		user      string
	}{
		{"udp", "acme"},
		{"tcp", "acme"}, // the same account: its registration replaces the UDP one
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			ctx, cancel := within(60 * time.Second)
			defer cancel()
			trunk := create(map[string]any{"name": "carrier " + tt.transport, "host": kamIP, "port": kamPort, "transport": tt.transport,
				"auth_mode": "register", "username": tt.user, "password": password, "realm": kamRealm, "from_user": tt.user,
				"codecs": []string{"PCMA", "PCMU"}})
			defer p.call("DELETE", "/v1/trunks/"+trunk, nil, nil)
			var st trunkStatus
			if !eventually(10*time.Second, func() bool { st = p.trunkStatus(trunk); return st.Registration == "registered" }) {
				t.Fatalf("registration: %+v\n%s", st, k.tail())
			}
			// The carrier saw the REGISTER come from the PBX's SIP address
			// over the trunk's transport (its config refuses any other
			// source, and a TCP Contact without transport=tcp).
			if k.count("REGISTER from "+kamPBXIP+" over "+tt.transport, "from="+tt.user) == 0 {
				t.Fatalf("no REGISTER from %s over %s:\n%s", kamPBXIP, tt.transport, k.tail())
			}
			var number struct{ ID string }
			if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550100", "trunk_id": trunk,
				"route": map[string]any{"type": "extension", "extension_id": desk.ID}}, &number); code != 201 {
				t.Fatalf("create number: %d", code)
			}
			defer p.call("DELETE", "/v1/numbers/"+number.ID, nil, nil)

			// Inbound: the carrier sends the call to sip:user@pbx, the number in To.
			out, in := connect(t, ctx, pstn, "+14155550100", phone, 600, 1000)
			_ = out.Hangup(ctx)
			waitHungUp(t, in)
			rec := p.lastRecord()
			if rec.Direction != "inbound" || rec.Disposition != "answered" || rec.ToNumber != "+14155550100" || rec.FromNumber != "+12125550123" {
				t.Fatalf("inbound record: %+v", rec)
			}
			if k.count("INVITE from "+pstnIP, "ruri=sip:+14155550100@") == 0 {
				t.Fatalf("the PSTN call did not pass the carrier:\n%s", k.tail())
			}
			// A To that names no number of ours: the trunk's only number.
			out, in = connect(t, ctx, pstn, "main-line", phone, 600, 1000)
			_ = out.Hangup(ctx)
			waitHungUp(t, in)
			if rec := p.lastRecord(); rec.Direction != "inbound" || rec.ToNumber != "+14155550100" || rec.Disposition != "answered" {
				t.Fatalf("inbound record by the trunk's only number: %+v", rec)
			}

			// Outbound: trunks the carrier refuses come first in the route;
			// each fails at once with trunk_auth_failed and the call goes
			// out through the good trunk.
			bad := []struct {
				name    string
				fields  map[string]any
				from    string // From user the carrier sees
				code    int
				invites int
			}{
				{"From user not the auth user", map[string]any{"username": tt.user, "password": password}, "+14155550100", 403, 2},
				{"wrong password", map[string]any{"username": "acmebad", "from_user": "acmebad", "password": "wrong-secret"}, "acmebad", 407, 2},
			}
			for _, b := range bad {
				body := map[string]any{"name": b.name, "host": kamIP, "port": kamPort, "transport": tt.transport, "auth_mode": "ip",
					"allowed_cidrs": []string{"192.0.2.1/32"}}
				for f, v := range b.fields {
					body[f] = v
				}
				badID := create(body)
				var route struct{ ID string }
				if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"},
					"prepend": "+1", "trunk_ids": []string{badID, trunk}}, &route); code != 201 {
					t.Fatalf("create route: %d", code)
				}
				before := k.count("INVITE from "+kamPBXIP+" over "+tt.transport, "from="+b.from+" ")
				out, in := connect(t, ctx, phone, "92125550123", pstn, 1000, 600)
				inv := in.Invite()
				pai := inv.GetHeader("P-Asserted-Identity")
				if inv.From().Address.User != tt.user || pai == nil || !strings.Contains(pai.Value(), "+14155550100") {
					t.Fatalf("%s: INVITE at the PSTN:\n%s", b.name, inv.String())
				}
				// The trunk's codecs, in its order, then telephone-event.
				if body := string(inv.Body()); !strings.Contains(body, "RTP/AVP 8 0 101\r\n") {
					t.Fatalf("%s: offer to the trunk:\n%s", b.name, body)
				}
				_ = out.Hangup(ctx)
				waitHungUp(t, in)
				rec := p.lastTrunkRecord()
				if rec.Direction != "outbound" || rec.Disposition != "answered" || rec.TrunkID != trunk || rec.Attempts != 2 {
					t.Fatalf("%s: outbound record: %+v", b.name, rec)
				}
				if n := k.count("INVITE from "+kamPBXIP+" over "+tt.transport, "from="+b.from+" ") - before; n != b.invites {
					t.Fatalf("%s: the carrier saw %d INVITEs from the refused trunk, want %d:\n%s", b.name, n, b.invites, k.tail())
				}
				if st := p.trunkStatus(badID); st.LastErrorCode != b.code || !strings.HasPrefix(st.LastError, "trunk_auth_failed") {
					t.Fatalf("%s: refused trunk status %+v", b.name, st)
				}
				p.call("DELETE", "/v1/outbound-routes/"+route.ID, nil, nil)
				p.call("DELETE", "/v1/trunks/"+badID, nil, nil)
			}

			// Every trunk refusing: the call fails with trunk_auth_failed.
			badID := create(map[string]any{"name": "refused", "host": kamIP, "port": kamPort, "transport": tt.transport, "auth_mode": "ip",
				"allowed_cidrs": []string{"192.0.2.1/32"}, "username": tt.user, "password": "wrong-secret", "from_user": tt.user})
			var route struct{ ID string }
			if code := p.call("POST", "/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"},
				"prepend": "+1", "trunk_ids": []string{badID}}, &route); code != 201 {
				t.Fatalf("create route: %d", code)
			}
			if _, err := phone.Dial(ctx, "92125550123"); err == nil {
				t.Fatal("a call through a refused trunk connected")
			}
			if rec := p.lastRecord(); rec.Disposition != "failed" || rec.HangupCause != "trunk_auth_failed" {
				t.Fatalf("refused call record: %+v", rec)
			}
			p.call("DELETE", "/v1/outbound-routes/"+route.ID, nil, nil)
			p.call("DELETE", "/v1/trunks/"+badID, nil, nil)
		})
	}

	// Early media through the carrier, both ways: the caller hears the far
	// side's tone from its 183 before the 200, then audio flows both ways.
	t.Run("early media", func(t *testing.T) {
		ctx, cancel := within(60 * time.Second)
		defer cancel()
		trunk := create(map[string]any{"name": "carrier early", "host": kamIP, "port": kamPort, "auth_mode": "register",
			"username": "acme", "password": password, "realm": kamRealm, "from_user": "acme"})
		defer p.call("DELETE", "/v1/trunks/"+trunk, nil, nil)
		var st trunkStatus
		if !eventually(10*time.Second, func() bool { st = p.trunkStatus(trunk); return st.Registration == "registered" }) {
			t.Fatalf("registration: %+v\n%s", st, k.tail())
		}
		ext := p.extension("1002", map[string]any{"outbound_caller_id": "+14155550100"})
		ephone := p.phoneWith(ext, siptest.Config{ToneHz: 600, EarlyMedia: true, RingFor: 2 * time.Second})
		var number struct{ ID string }
		if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550100", "trunk_id": trunk,
			"route": map[string]any{"type": "extension", "extension_id": ext.ID}}, &number); code != 201 {
			t.Fatalf("create number: %d", code)
		}
		defer p.call("DELETE", "/v1/numbers/"+number.ID, nil, nil)
		addRoute(p, trunk)

		calls := []struct {
			name                        string
			caller                      *siptest.Phone
			number                      string
			callee                      *siptest.Phone
			callerHears, calleeHears    float64
			direction, carrierSawInvite string
		}{
			{"outbound", ephone, "9" + earlyNumber[2:], earlyPSTN, 1000, 600, "outbound", "INVITE from " + kamPBXIP},
			{"inbound", earlyPSTN, "+14155550100", ephone, 600, 1000, "inbound", "INVITE from " + pstnIP},
		}
		for _, c := range calls {
			before := k.count(c.carrierSawInvite, "from=")
			dialled := time.Now()
			out, err := c.caller.Dial(ctx, c.number)
			if err != nil {
				t.Fatalf("%s: dial: %v", c.name, err)
			}
			if ringing := out.AnsweredAt().Sub(dialled); ringing < 1500*time.Millisecond {
				t.Fatalf("%s: answered after %v, the callee rings 2 s", c.name, ringing)
			}
			if !out.HeardEarly(c.callerHears) {
				t.Fatalf("%s: the caller did not hear the early media before the 200\n%s", c.name, k.tail())
			}
			in, err := c.callee.Incoming(ctx)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !out.WaitHears(ctx, c.callerHears) || !in.WaitHears(ctx, c.calleeHears) {
				t.Fatalf("%s: after the answer the parties do not hear each other", c.name)
			}
			_ = out.Hangup(ctx)
			waitHungUp(t, in)
			rec := p.lastRecord()
			if rec.Direction != c.direction || rec.Disposition != "answered" || rec.RingSeconds < 1.5 {
				t.Fatalf("%s: record %+v", c.name, rec)
			}
			if k.count(c.carrierSawInvite, "from=") == before {
				t.Fatalf("%s: the call did not pass the carrier:\n%s", c.name, k.tail())
			}
		}
	})

	// Session timer through the carrier: the PSTN grants a 2 s session
	// with the PBX as refresher; the PBX's refreshes are loose-routed by
	// the carrier within the dialog and the call stays up with audio.
	t.Run("session timer", func(t *testing.T) {
		tp := startPBX(t, time.Minute, func(c *serveCmd) {
			c.SIP = kamPBXIP + ":0"
			c.MinSE = 2 * time.Second
			c.SessionExpires = 4 * time.Second
		})
		ext := tp.extension("1001", map[string]any{"outbound_caller_id": "+14155550100"})
		caller := tp.phone(ext, 600, siptest.AnswerNow, "PCMU")
		// Outbound only: credentials on the INVITE, no registration (which
		// would take the account's contact from the other PBX).
		trunk := createOn(tp, map[string]any{"name": "carrier timer", "host": kamIP, "port": kamPort, "auth_mode": "ip",
			"allowed_cidrs": []string{"192.0.2.1/32"}, "username": "acme", "password": password, "from_user": "acme"})
		addRoute(tp, trunk)
		ctx, cancel := within(60 * time.Second)
		defer cancel()
		before := k.count("UPDATE from "+kamPBXIP) + k.count("INVITE from "+kamPBXIP, "to="+timerNumber)
		out, in := connect(t, ctx, caller, "9"+timerNumber[2:], timerPSTN, 1000, 600)
		if inv := in.Invite(); inv.GetHeader("Session-Expires") == nil || inv.GetHeader("Min-SE") == nil {
			t.Fatalf("the INVITE at the PSTN asks for no session timer:\n%s", inv.String())
		}
		stillUp(t, in, 4500*time.Millisecond)
		got := timerPSTN.Refreshes()
		if len(got) < 3 {
			t.Fatalf("refreshes received by the PSTN: %v\n%s", got, k.tail())
		}
		// Every refresh passed the carrier, besides the INVITE that set
		// the call up.
		if n := k.count("UPDATE from "+kamPBXIP) + k.count("INVITE from "+kamPBXIP, "to="+timerNumber) - before; n < len(got)+1 {
			t.Fatalf("the carrier relayed %d requests from the PBX for %d refreshes:\n%s", n, len(got), k.tail())
		}
		if !out.WaitHears(ctx, 1000) || !in.WaitHears(ctx, 600) {
			t.Fatal("audio stopped after the refreshes")
		}
		if err := out.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		waitHungUp(t, in)
		if r := tp.lastRecord(); r.Disposition != "answered" || r.HangupCause != "normal_clearing" {
			t.Fatalf("record %s/%s", r.Disposition, r.HangupCause)
		}
	})
}
