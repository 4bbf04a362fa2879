package main

import (
	"encoding/csv"
	"net"
	"sync"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/emiago/sipgo"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// pbx is a whole Dialtone running in-process on free loopback ports.
type pbx struct {
	t      testing.TB
	app    *app
	api    string
	sip    netip.AddrPort
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

const e2eKey = "e2e-admin-key-0123456789abcdef"

// pbxStarts gives every PBX of a test run its own RTP port range, between
// 32000 and 63999; the pool skips ports another program holds.
var pbxStarts int

func startPBX(t testing.TB, mediaTimeout time.Duration, options ...func(*serveCmd)) *pbx {
	t.Helper()
	pbxStarts++
	rtpLow := 32000 + (pbxStarts%32)*1000
	cmd := serveCmd{
		HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0", Domain: "pbx.test",
		RTPPorts: fmt.Sprintf("%d-%d", rtpLow, rtpLow+999), MediaTimeout: mediaTimeout,
		Data: t.TempDir(), LogLevel: "warn", LogFormat: "text", ShutdownTimeout: 5 * time.Second,
		EventRetention: 168 * time.Hour, Country: "US", TrunkRetry: 30 * time.Second, WebhookRetryBase: 10 * time.Second, Digest: []string{"MD5", "SHA-256"},
	}
	for _, o := range options {
		o(&cmd)
	}
	log := newLogger(env{stderr: testWriter{t}}, "warn", "text")
	getenv := func(k string) string {
		if k == "DIALTONE_ADMIN_KEY" {
			return e2eKey
		}
		return ""
	}
	a, err := openApp(context.Background(), cmd, env{stdout: io.Discard, stderr: io.Discard, getenv: getenv}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pbx{t: t, app: a, api: "http://" + a.ln.Addr().String(), sip: a.sip.Addr(), cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.serve(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *pbx) stop() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		_ = p.app.stop(5 * time.Second)
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	if _, fuzzing := w.t.(*testing.F); fuzzing {
		// A fuzz target may not log through its F once it runs inputs.
		return os.Stderr.Write(b)
	}
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (p *pbx) call(method, path string, body any, out any) int {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	return res.StatusCode
}

type extension struct {
	ID          string `json:"id"`
	Number      string `json:"number"`
	SIPPassword string `json:"sip_password"`
}

func (p *pbx) extension(number string, extra map[string]any) extension {
	p.t.Helper()
	body := map[string]any{"number": number, "name": "User " + number}
	for k, v := range extra {
		body[k] = v
	}
	var e extension
	if code := p.call("POST", "/v1/extensions", body, &e); code != 201 {
		p.t.Fatalf("create extension %s: %d", number, code)
	}
	return e
}

// phone creates a registered test phone for an extension.
func (p *pbx) phone(e extension, tone float64, answer siptest.Answer, codecs string) *siptest.Phone {
	p.t.Helper()
	ph, err := siptest.New(siptest.Config{User: e.Number, Password: e.SIPPassword, Domain: "pbx.test", PBX: p.sip,
		ToneHz: tone, Answer: answer, Codecs: siptest.ParseCodecs(codecs)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(ph.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := ph.Register(ctx, 300)
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("register %s: %v %v", e.Number, res, err)
	}
	return ph
}

type callRecord struct {
	ID          string  `json:"id"`
	Direction   string  `json:"direction"`
	FromNumber  string  `json:"from_number"`
	FromName    string  `json:"from_name"`
	ToNumber    string  `json:"to_number"`
	Disposition string  `json:"disposition"`
	HangupCause string  `json:"hangup_cause"`
	HangupBy    string  `json:"hangup_by"`
	AnsweredAt  *string `json:"answered_at"`
	EndedAt     *string `json:"ended_at"`
	TalkSeconds float64 `json:"talk_seconds"`
	RingSeconds float64 `json:"ring_seconds"`
	Media       struct {
		Caller struct {
			Codec     string `json:"codec"`
			PacketsIn uint64 `json:"packets_in"`
		} `json:"caller"`
		Callee struct {
			Codec     string `json:"codec"`
			PacketsIn uint64 `json:"packets_in"`
		} `json:"callee"`
	} `json:"media"`
}

// lastRecord waits for the newest call record to be finished.
func (p *pbx) lastRecord() callRecord {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var list struct{ Items []callRecord }
		p.call("GET", "/v1/call-records?limit=1", nil, &list)
		if len(list.Items) == 1 && list.Items[0].EndedAt != nil {
			return list.Items[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatal("no finished call record")
	return callRecord{}
}

// connect has caller dial number, waits for callee to answer, and checks that
// each hears the other's tone (callerHears on the caller's side).
func connect(t *testing.T, ctx context.Context, caller *siptest.Phone, number string, callee *siptest.Phone, callerHears, calleeHears float64) (out, in *siptest.Call) {
	t.Helper()
	out, err := caller.Dial(ctx, number)
	if err != nil {
		t.Fatalf("dial %s: %v", number, err)
	}
	if in, err = callee.Incoming(ctx); err != nil {
		t.Fatalf("%s not answered: %v", number, err)
	}
	if !out.WaitHears(ctx, callerHears) || !in.WaitHears(ctx, calleeHears) {
		t.Fatalf("call to %s: the parties do not hear each other", number)
	}
	return out, in
}

// waitHungUp waits for the far end of c to hang up.
func waitHungUp(t *testing.T, c *siptest.Call) {
	t.Helper()
	select {
	case <-c.HungUp():
	case <-time.After(15 * time.Second):
		t.Fatal("the far end did not hang up")
	}
}

// eventually polls cond until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func within(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func TestCallCarriesAudioBothWays(t *testing.T) {
	tests := []struct {
		name           string
		callerCodecs   string
		calleeCodecs   string
		hangupByCaller bool
	}{
		{"PCMU both, caller hangs up", "PCMU", "PCMU", true},
		{"PCMU caller to PCMA callee, callee hangs up", "PCMU", "PCMA", false},
		{"PCMA caller to PCMU callee", "PCMA", "PCMU", true},
	}
	p := startPBX(t, 60*time.Second)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := p.extension(fmt.Sprintf("%d", 2000+2*i), nil)
			b := p.extension(fmt.Sprintf("%d", 2001+2*i), nil)
			caller := p.phone(a, 600, siptest.AnswerNow, tt.callerCodecs)
			callee := p.phone(b, 1400, siptest.AnswerNow, tt.calleeCodecs)
			ctx, cancel := within(20 * time.Second)
			defer cancel()
			out, err := caller.Dial(ctx, b.Number)
			if err != nil {
				t.Fatal(err)
			}
			in, err := callee.Incoming(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if in.Codec().String() != tt.calleeCodecs || out.Codec().String() != tt.callerCodecs {
				t.Fatalf("codecs: caller %s callee %s", out.Codec(), in.Codec())
			}
			if !out.WaitHears(ctx, 1400) {
				t.Fatal("the caller does not hear the callee's 1400 Hz tone")
			}
			if !in.WaitHears(ctx, 600) {
				t.Fatal("the callee does not hear the caller's 600 Hz tone")
			}
			var live struct {
				Items []struct {
					ID    string
					State string
					Legs  []struct{ Media struct{ Codec string } }
				}
			}
			p.call("GET", "/v1/calls", nil, &live)
			if len(live.Items) != 1 || live.Items[0].State != "answered" || len(live.Items[0].Legs) != 2 {
				t.Fatalf("live calls: %+v", live)
			}
			if tt.hangupByCaller {
				err = out.Hangup(ctx)
				waitHungUp(t, in)
			} else {
				err = in.Hangup(ctx)
				waitHungUp(t, out)
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := p.lastRecord()
			wantBy := "callee"
			if tt.hangupByCaller {
				wantBy = "caller"
			}
			if rec.Disposition != "answered" || rec.HangupBy != wantBy || rec.HangupCause != "normal_clearing" ||
				rec.FromNumber != a.Number || rec.ToNumber != b.Number || rec.Direction != "internal" || rec.FromName != "User "+a.Number ||
				rec.AnsweredAt == nil || rec.TalkSeconds <= 0 {
				t.Fatalf("call record: %+v", rec)
			}
			if rec.Media.Caller.Codec != tt.callerCodecs || rec.Media.Callee.Codec != tt.calleeCodecs ||
				rec.Media.Caller.PacketsIn < 20 || rec.Media.Callee.PacketsIn < 20 {
				t.Fatalf("call record media: %+v", rec.Media)
			}
		})
	}
}

func TestCallFailures(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	caller := p.phone(p.extension("3000", nil), 600, siptest.AnswerNow, "PCMU")
	busy := p.extension("3001", nil)
	p.phone(busy, 1400, siptest.RejectBusy, "PCMU")
	p.extension("3002", nil) // never registers
	slow := p.extension("3003", map[string]any{"ring_timeout_seconds": 5})
	p.phone(slow, 1400, siptest.RingForever, "PCMU")
	disabled := p.extension("3004", nil)
	p.phone(disabled, 1400, siptest.AnswerNow, "PCMU")
	p.call("PATCH", "/v1/extensions/"+disabled.ID, map[string]any{"enabled": false}, nil)

	tests := []struct {
		name        string
		number      string
		code        int
		disposition string
		cause       string
		by          string
	}{
		{"busy", "3001", 486, "busy", "busy", "callee"},
		{"not registered", "3002", 480, "failed", "not_registered", "system"},
		{"unknown number", "3999", 404, "failed", "unknown_number", "system"},
		{"no answer", "3003", 480, "no_answer", "no_answer", "system"},
		{"disabled callee", "3004", 480, "failed", "extension_disabled", "system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := within(20 * time.Second)
			defer cancel()
			start := time.Now()
			_, err := caller.Dial(ctx, tt.number)
			de, ok := err.(*siptest.DialError)
			if !ok || de.Code != tt.code {
				t.Fatalf("want %d, got %v", tt.code, err)
			}
			if tt.name == "no answer" && time.Since(start) < 4*time.Second {
				t.Fatalf("gave up after %s, before the 5 s ring timeout", time.Since(start))
			}
			rec := p.lastRecord()
			if rec.Disposition != tt.disposition || rec.HangupCause != tt.cause || rec.HangupBy != tt.by || rec.ToNumber != tt.number || rec.AnsweredAt != nil {
				t.Fatalf("call record: %+v", rec)
			}
		})
	}

	t.Run("csv export", func(t *testing.T) {
		req, _ := http.NewRequest("GET", p.api+"/v1/call-records?disposition=failed", nil)
		req.Header.Set("Authorization", "Bearer "+e2eKey)
		req.Header.Set("Accept", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		rows, err := csv.NewReader(res.Body).ReadAll()
		if err != nil || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %v %s", err, res.Header.Get("Content-Type"))
		}
		// header + not registered, unknown number, disabled callee
		if len(rows) != 4 || rows[0][0] != "id" || rows[1][11] != "failed" {
			t.Fatalf("csv rows: %v", rows)
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		ctx, cancel := within(20 * time.Second)
		go func() {
			time.Sleep(700 * time.Millisecond)
			cancel()
		}()
		_, err := caller.Dial(ctx, slow.Number)
		if err == nil {
			t.Fatal("a cancelled call was answered")
		}
		rec := p.lastRecord()
		if rec.Disposition != "cancelled" || rec.HangupBy != "caller" || rec.HangupCause != "caller_cancel" {
			t.Fatalf("call record: %+v", rec)
		}
	})
}

func dsipServe(ua *sipgo.UserAgent, srv *sipgo.Server, conn net.PacketConn) {
	dsip.ServeUDP(ua, srv, conn)
}
