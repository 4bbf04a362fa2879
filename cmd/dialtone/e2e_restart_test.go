package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// restartable is a dialtone serve subprocess on fixed ports and a fixed data
// dir, so it can be killed and started again in the same place.
type restartable struct {
	t        *testing.T
	dir      string
	http     string
	sip      string
	rtp      string
	key      string
	instance *server
}

// freeSIPAddr returns a loopback address whose port is free for UDP and TCP.
func freeSIPAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := udp.LocalAddr().String()
		tcp, err := net.Listen("tcp", addr)
		udp.Close()
		if err == nil {
			tcp.Close()
			return addr
		}
	}
	t.Fatal("no free port for SIP")
	return ""
}

func (r *restartable) start() {
	r.t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--data", r.dir, "--http", r.http, "--sip", r.sip, "--rtp-ports", r.rtp,
		"--domain", "pbx.test", "--allow-private-webhooks", "--webhook-retry-base", "200ms", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "DIALTONE_TEST_RUN_MAIN=1", "DIALTONE_ADMIN_KEY="+r.key)
	s := &server{cmd: cmd, url: "http://" + r.http, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	r.t.Cleanup(func() { _ = cmd.Process.Kill() })
	r.instance = s
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-s.done:
			r.t.Fatalf("server exited: %v\n%s", err, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.t.Fatalf("server not ready\n%s", s.stderr.String())
}

// kill9 kills the server with SIGKILL and waits for it to be gone.
func (r *restartable) kill9() {
	r.t.Helper()
	if err := r.instance.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-r.instance.done:
	case <-time.After(10 * time.Second):
		r.t.Fatal("killed server did not exit")
	}
}

func (r *restartable) api(method, path string, body, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.instance.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	return res.StatusCode
}

// TestRegisteredPhonesReachableAfterKill9 registers phones, places live
// calls, kills the server with SIGKILL and starts it again on the same data
// and ports: a registered phone is called at once, without registering
// again, and the calls cut by the crash reach the webhook as call.ended.
func TestRegisteredPhonesReachableAfterKill9(t *testing.T) {
	r := &restartable{t: t, dir: t.TempDir(), http: freePort(t), sip: freeSIPAddr(t), rtp: "47000-47999", key: "restart-test-admin-key-0123456789"}
	r.start()
	sipAddr := netip.MustParseAddrPort(r.sip)

	recv := &hookReceiver{}
	hooks := httptest.NewServer(recv)
	defer hooks.Close()
	var hook struct{ Secret string }
	if code := r.api("POST", "/v1/webhooks", map[string]any{"url": hooks.URL + "/crm", "event_types": []string{"call.ended"}}, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	recv.mu.Lock()
	recv.secret = hook.Secret
	recv.mu.Unlock()

	type ext struct {
		Number      string `json:"number"`
		SIPPassword string `json:"sip_password"`
	}
	phones := map[string]*siptest.Phone{}
	tones := map[string]float64{"6001": 600, "6002": 1400, "6003": 1000}
	for _, number := range []string{"6001", "6002", "6003"} {
		var e ext
		if code := r.api("POST", "/v1/extensions", map[string]any{"number": number}, &e); code != 201 {
			t.Fatalf("create extension %s: %d", number, code)
		}
		ph, err := siptest.New(siptest.Config{User: e.Number, Password: e.SIPPassword, Domain: "pbx.test", PBX: sipAddr,
			ToneHz: tones[number], Answer: siptest.AnswerNow, Codecs: siptest.ParseCodecs("PCMU")})
		if err != nil {
			t.Fatal(err)
		}
		defer ph.Close()
		ctx, cancel := within(5 * time.Second)
		res, err := ph.Register(ctx, 300)
		cancel()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("register %s: %v %v", number, res, err)
		}
		phones[number] = ph
	}

	// Two live calls with audio both ways: 6001 -> 6002 and 6003 -> 6002.
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out1, in1 := connect(t, ctx, phones["6001"], "6002", phones["6002"], 1400, 600)
	out2, in2 := connect(t, ctx, phones["6003"], "6002", phones["6002"], 1400, 1000)
	var live struct{ Items []struct{ ID string } }
	r.api("GET", "/v1/calls", nil, &live)
	if len(live.Items) != 2 {
		t.Fatalf("%d live calls, want 2", len(live.Items))
	}

	r.kill9()
	// The phones notice nothing; their users hang up the dead calls.
	for _, c := range []interface{ Hangup(context.Context) error }{out1, in1, out2, in2} {
		hctx, hcancel := within(300 * time.Millisecond)
		_ = c.Hangup(hctx)
		hcancel()
	}
	r.start()

	// No phone registers again: 6001 calls 6003, found through the stored binding.
	var regs struct {
		Items []struct {
			SIPUsername string `json:"sip_username"`
		}
	}
	if r.api("GET", "/v1/registrations", nil, &regs); len(regs.Items) != 3 {
		t.Fatalf("%d registrations after the restart, want 3", len(regs.Items))
	}
	ctx2, cancel2 := within(20 * time.Second)
	defer cancel2()
	out, in := connect(t, ctx2, phones["6001"], "6003", phones["6003"], 1000, 600)
	_ = out.Hangup(ctx2)
	waitHungUp(t, in)

	// The cut calls end, for the webhook, as shut down by the system.
	want := map[string]bool{live.Items[0].ID: true, live.Items[1].ID: true}
	ended := func() map[string]map[string]any {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		got := map[string]map[string]any{}
		for _, e := range recv.got {
			var d map[string]any
			_ = json.Unmarshal(e.Data, &d)
			if id, _ := d["call_id"].(string); want[id] && e.Type == "call.ended" {
				got[id] = d
			}
		}
		return got
	}
	if !eventually(30*time.Second, func() bool { return len(ended()) == 2 }) {
		t.Fatalf("call.ended of the cut calls: %v\n%s", ended(), r.instance.stderr.String())
	}
	for id, d := range ended() {
		if d["disposition"] != "failed" || d["hangup_cause"] != "shutdown" || d["hangup_by"] != "system" ||
			d["to_extension_id"] == nil || d["from_extension_id"] == nil || d["answered_at"] == nil || d["ended_at"] == nil {
			t.Fatalf("call.ended of %s: %v", id, d)
		}
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.badSigs != 0 {
		t.Fatalf("%d deliveries badly signed", recv.badSigs)
	}
	t.Logf("after kill -9: 3 registrations restored, a call answered with audio, %d call.ended delivered", len(want))
}
