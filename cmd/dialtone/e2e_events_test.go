package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
	"github.com/dialtone-pbx/dialtone/webhook"
)

// placeCalls makes n answered calls from one phone to another, each hung up by the caller.
func placeCalls(t *testing.T, caller, callee *siptest.Phone, number string, n int) {
	t.Helper()
	for i := range n {
		ctx, cancel := within(10 * time.Second)
		out, err := caller.Dial(ctx, number)
		if err != nil {
			cancel()
			t.Fatalf("call %d: %v", i, err)
		}
		in, err := callee.Incoming(ctx)
		if err != nil {
			cancel()
			t.Fatalf("call %d not answered: %v", i, err)
		}
		_ = out.Hangup(ctx)
		waitHungUp(t, in)
		cancel()
	}
}

// hookReceiver is a CRM-like endpoint: it verifies signatures, fails while
// told to, and keeps every event it accepted.
type hookReceiver struct {
	mu       sync.Mutex
	secret   string
	failing  bool
	requests int
	badSigs  int
	got      []webhook.Envelope
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if h.failing {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if webhook.Verify(h.secret, r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute, time.Now()) != nil {
		h.badSigs++
	}
	var env webhook.Envelope
	_ = json.Unmarshal(body, &env)
	h.got = append(h.got, env)
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) set(failing bool) {
	h.mu.Lock()
	h.failing = failing
	h.mu.Unlock()
}

// TestWebhooksSurviveOutageAndRestart places 100 calls while the receiver
// answers 500, restarts the PBX with deliveries pending, lets the receiver
// recover, and checks every event of every call arrives exactly once, in
// order per call, correctly signed. DIALTONE_WEBHOOK_OUTAGE sets how long
// the receiver fails (default 3s; the closing note ran it with 60s).
func TestWebhooksSurviveOutageAndRestart(t *testing.T) {
	outage := 3 * time.Second
	if v := os.Getenv("DIALTONE_WEBHOOK_OUTAGE"); v != "" {
		outage, _ = time.ParseDuration(v)
	}
	const calls = 100
	dataDir := t.TempDir()
	opts := func(c *serveCmd) {
		c.Data = dataDir
		c.AllowPrivateWebhooks = true
		c.WebhookRetryBase = 200 * time.Millisecond
	}
	p := startPBX(t, time.Minute, opts)
	recv := &hookReceiver{failing: true}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if code := p.call("POST", "/v1/webhooks", map[string]any{"url": srv.URL + "/dialtone", "event_types": []string{"call.*"}}, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	recv.mu.Lock()
	recv.secret = hook.Secret
	recv.mu.Unlock()

	a, b := p.extension("8000", nil), p.extension("8001", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	start := time.Now()
	placeCalls(t, caller, callee, b.Number, calls)

	// Stop the PBX with deliveries pending, and start it again on the same data.
	p.stop()
	caller.Close()
	callee.Close()
	p2 := startPBX(t, time.Minute, opts)
	if wait := outage - time.Since(start); wait > 0 {
		time.Sleep(wait)
	}
	recv.set(false)

	want := calls * 4 // created, ringing, answered, ended
	ok := eventually(60*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		ids := map[string]bool{}
		for _, e := range recv.got {
			ids[e.ID] = true
		}
		return len(ids) >= want
	})
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if !ok {
		types := map[string]int{}
		for _, e := range recv.got {
			types[string(e.Type)]++
		}
		var hist struct{ Items []struct{ Type string } }
		p2.call("GET", "/v1/events/history?types=call.*&limit=500", nil, &hist)
		t.Fatalf("received %d events (%v), want %d; the outbox holds %d", len(recv.got), types, want, len(hist.Items))
	}
	if recv.badSigs != 0 {
		t.Fatalf("%d deliveries failed signature verification", recv.badSigs)
	}
	seen := map[string]bool{}
	perCall := map[string][]string{}
	lastSeq := map[string]int64{}
	for _, e := range recv.got {
		if seen[e.ID] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		seen[e.ID] = true
		var d struct {
			CallID string `json:"call_id"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if e.Sequence <= lastSeq[d.CallID] {
			t.Fatalf("call %s: event %d after %d", d.CallID, e.Sequence, lastSeq[d.CallID])
		}
		lastSeq[d.CallID] = e.Sequence
		perCall[d.CallID] = append(perCall[d.CallID], string(e.Type))
	}
	if len(perCall) != calls {
		t.Fatalf("events of %d calls, want %d", len(perCall), calls)
	}
	for id, types := range perCall {
		if strings.Join(types, ",") != "call.created,call.ringing,call.answered,call.ended" {
			t.Fatalf("call %s events: %v", id, types)
		}
	}
	var log struct {
		Items []struct {
			Status   string
			Attempts int
		}
	}
	// The receiver has every event once its handler ran; the dispatcher
	// records each attempt when the response is back, a moment later.
	eventually(10*time.Second, func() bool {
		log.Items = nil
		p2.call("GET", "/v1/webhooks/"+hook.ID+"/deliveries?limit=500", nil, &log)
		for _, d := range log.Items {
			if d.Status != "succeeded" {
				return false
			}
		}
		return true
	})
	retried := 0
	for _, d := range log.Items {
		if d.Status != "succeeded" {
			var raw []map[string]any
			p2.call("GET", "/v1/webhooks/"+hook.ID+"/deliveries?limit=3", nil, &struct{ Items *[]map[string]any }{&raw})
			t.Fatalf("delivery log: %+v (of %d); newest: %v", d, len(log.Items), raw)
		}
		if d.Attempts > 1 {
			retried++
		}
	}
	t.Logf("%d events of %d calls delivered once each after %d requests (%d deliveries needed retries); outage %s",
		len(recv.got), calls, recv.requests, retried, outage)
}

type sseEvent struct {
	id   int64
	typ  string
	data string
}

// readSSE reads events until n have arrived or the stream ends.
func readSSE(t *testing.T, url, key, lastID string, n int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		case line == "" && cur.typ != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

func TestEventStreamResumes(t *testing.T) {
	p := startPBX(t, time.Minute)
	a, b := p.extension("8100", nil), p.extension("8101", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	url := p.api + "/v1/events?types=call.*,extension.created"

	// The whole history so far: two extension.created events.
	first := readSSE(t, url, e2eKey, "0", 2)
	if len(first) != 2 || first[0].typ != "extension.created" || first[1].id <= first[0].id {
		t.Fatalf("first read: %+v", first)
	}
	// Disconnected: three calls happen meanwhile.
	placeCalls(t, caller, callee, b.Number, 3)
	p.extension("8102", nil)
	// Reconnect with Last-Event-ID: 3 calls x 4 events + 1 extension.created, nothing twice.
	second := readSSE(t, url, e2eKey, fmt.Sprint(first[1].id), 13)
	if len(second) != 13 {
		t.Fatalf("after reconnect: %d events", len(second))
	}
	prev := first[1].id
	for _, e := range second {
		if e.id <= prev {
			t.Fatalf("event %d after %d", e.id, prev)
		}
		prev = e.id
		var env webhook.Envelope
		if err := json.Unmarshal([]byte(e.data), &env); err != nil || env.Sequence != e.id || string(env.Type) != e.typ {
			t.Fatalf("envelope %s: %v", e.data, err)
		}
	}
	count := map[string]int{}
	for _, e := range second {
		count[e.typ]++
	}
	if count["extension.created"] != 1 || count["call.created"] != 3 || count["call.ended"] != 3 {
		t.Fatalf("events after reconnect: %v", count)
	}

	// A live stream: connect, then a call happens.
	done := make(chan []sseEvent, 1)
	go func() { done <- readSSE(t, p.api+"/v1/events?types=call.ended", e2eKey, "", 1) }()
	time.Sleep(300 * time.Millisecond)
	placeCalls(t, caller, callee, b.Number, 1)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].typ != "call.ended" {
			t.Fatalf("live: %+v", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no live event")
	}

	// History polling pages by sequence.
	var hist struct {
		Items []struct {
			Sequence int64  `json:"sequence"`
			Type     string `json:"type"`
		}
		NextAfter int64 `json:"next_after"`
	}
	p.call("GET", "/v1/events/history?types=call.*&limit=5", nil, &hist)
	if len(hist.Items) != 5 || hist.NextAfter != hist.Items[4].Sequence {
		t.Fatalf("history: %+v", hist)
	}
	if code := p.call("GET", "/v1/events/history?types=nonsense", nil, nil); code != 422 {
		t.Fatalf("bad type: %d", code)
	}
}
