package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// receiver is a webhook endpoint that checks signatures and records what it accepted.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	secrets []string
	fail    func(n int) int // status to answer for the n-th request (0 = 200)
	n       int
	got     []Envelope
	sigs    []string
	badSig  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.fail != nil {
		if code := r.fail(r.n); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	sig := req.Header.Get(SignatureHeader)
	ok := false
	for _, s := range r.secrets {
		// The clock of the dispatcher is fake; check the MAC, not the age.
		if Verify(s, sig, body, 100*365*24*time.Hour, time.Now()) == nil {
			ok = true
		}
	}
	if !ok {
		r.badSig++
	}
	var env Envelope
	_ = json.Unmarshal(body, &env)
	if req.Header.Get("Dialtone-Event-Id") != env.ID || req.Header.Get("Dialtone-Event-Type") != string(env.Type) {
		r.badSig++
	}
	r.got = append(r.got, env)
	r.sigs = append(r.sigs, sig)
	w.WriteHeader(http.StatusNoContent)
}

type fixture struct {
	db    *store.DB
	dir   string
	d     *Dispatcher
	clock time.Time
	recv  *receiver
	srv   *httptest.Server
	hook  *core.Webhook
}

func newFixture(t *testing.T, types ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, dir: dir, clock: time.Now().UTC().Truncate(time.Second), recv: &receiver{t: t, secrets: []string{"s3cret-one"}}}
	f.srv = httptest.NewServer(f.recv)
	t.Cleanup(f.srv.Close)
	if len(types) == 0 {
		types = []string{"call.*"}
	}
	f.hook = &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: f.srv.URL + "/hook", EventTypes: types,
		Enabled: true, Secret: "s3cret-one", Version: 1, CreatedAt: f.clock, UpdatedAt: f.clock}
	if err := db.CreateWebhook(context.Background(), f.hook); err != nil {
		t.Fatal(err)
	}
	f.d = f.dispatcher(db)
	return f
}

func (f *fixture) dispatcher(db *store.DB) *Dispatcher {
	d := New(Config{AllowPrivate: true}, db, slog.New(slog.DiscardHandler))
	d.Now = func() time.Time { return f.clock }
	d.Jitter = func() float64 { return 1 }
	return d
}

func callEvents(calls, perCall int, at time.Time) []core.Event {
	var evs []core.Event
	for i := range perCall {
		for c := range calls {
			evs = append(evs, core.NewEvent(core.EventCallRinging, at, fmt.Sprintf("call:%d", c), nil,
				map[string]any{"call": c, "step": i}))
		}
	}
	return evs
}

// drain runs the dispatcher, moving the fake clock forward, until nothing is pending.
func (f *fixture) drain(t *testing.T, step time.Duration, rounds int) {
	t.Helper()
	for range rounds {
		for f.d.RunOnce(context.Background()) > 0 {
		}
		f.clock = f.clock.Add(step)
	}
}

func TestDeliveryOrderAcrossFailures(t *testing.T) {
	f := newFixture(t)
	// The endpoint fails the first 25 requests, then recovers.
	f.recv.fail = func(n int) int {
		if n <= 25 {
			return http.StatusInternalServerError
		}
		return 0
	}
	evs := callEvents(5, 6, f.clock)
	if err := f.db.AppendEvents(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	// Not a call event: not subscribed.
	_ = f.db.AppendEvents(context.Background(), core.NewEvent(core.EventExtensionCreated, f.clock, "x", nil, map[string]any{}))
	f.drain(t, 30*time.Minute, 60)
	if f.recv.badSig != 0 {
		t.Fatalf("%d deliveries with a bad signature or headers", f.recv.badSig)
	}
	seen := map[string]int{}
	last := map[string]int64{}
	for _, e := range f.recv.got {
		seen[e.ID]++
		var data struct{ Call int }
		_ = json.Unmarshal(e.Data, &data)
		key := fmt.Sprint(data.Call)
		if e.Sequence <= last[key] {
			t.Fatalf("call %s: event %d arrived after %d", key, e.Sequence, last[key])
		}
		last[key] = e.Sequence
	}
	if len(seen) != len(evs) || len(f.recv.got) != len(evs) {
		t.Fatalf("received %d deliveries of %d distinct events, want %d once each", len(f.recv.got), len(seen), len(evs))
	}
}

func TestRetryBackoffWithClock(t *testing.T) {
	f := newFixture(t)
	f.recv.fail = func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	_ = f.db.AppendEvents(context.Background(), callEvents(1, 1, f.clock)...)
	steps := []struct {
		advance  time.Duration
		attempts int // requests seen by the endpoint after this step
	}{
		{0, 1},                // first attempt at once, fails
		{9 * time.Second, 1},  // 10 s backoff not over
		{time.Second, 2},      // second attempt at +10 s, fails
		{19 * time.Second, 2}, // 20 s backoff not over
		{time.Second, 3},      // third at +30 s, fails
		{40 * time.Second, 4}, // fourth at +70 s succeeds
		{time.Hour, 4},        // nothing more
	}
	for i, s := range steps {
		f.clock = f.clock.Add(s.advance)
		f.d.RunOnce(context.Background())
		if f.recv.n != s.attempts {
			t.Fatalf("step %d: %d requests, want %d", i, f.recv.n, s.attempts)
		}
	}
	page, _ := f.db.ListDeliveries(context.Background(), f.hook.ID, core.PageRequest{})
	if len(page.Items) != 1 || page.Items[0].Status != core.DeliverySucceeded || page.Items[0].Attempts != 4 || page.Items[0].LastStatus != 204 {
		t.Fatalf("delivery log: %+v", page.Items[0])
	}
	w, _ := f.db.GetWebhook(context.Background(), f.hook.ID)
	if w.FailingSince != nil {
		t.Fatal("a recovered webhook still counts as failing")
	}
}

func TestGoneDisablesAndLongFailureDisables(t *testing.T) {
	f := newFixture(t)
	f.recv.fail = func(int) int { return http.StatusGone }
	_ = f.db.AppendEvents(context.Background(), callEvents(1, 2, f.clock)...)
	f.d.RunOnce(context.Background())
	w, _ := f.db.GetWebhook(context.Background(), f.hook.ID)
	if w.Enabled || w.DisabledReason == "" {
		t.Fatalf("410 did not disable: %+v", w)
	}
	evs, _ := f.db.EventsAfter(context.Background(), 0, store.EventFilter{Types: []string{"webhook.disabled"}}, 10)
	if len(evs) != 1 {
		t.Fatalf("webhook.disabled events: %d", len(evs))
	}
	if n := f.d.RunOnce(context.Background()); n != 0 {
		t.Fatalf("a disabled webhook got %d more deliveries", n)
	}

	g := newFixture(t)
	g.recv.fail = func(int) int { return http.StatusInternalServerError }
	_ = g.db.AppendEvents(context.Background(), callEvents(1, 1, g.clock)...)
	g.drain(t, time.Hour, 26)
	w, _ = g.db.GetWebhook(context.Background(), g.hook.ID)
	if w.Enabled || w.DisabledReason == "" {
		t.Fatalf("24 h of failures did not disable: %+v", w)
	}
	page, _ := g.db.ListDeliveries(context.Background(), g.hook.ID, core.PageRequest{})
	if page.Items[0].Status != core.DeliveryFailed || page.Items[0].LastError == "" {
		t.Fatalf("delivery: %+v", page.Items[0])
	}
}

func TestSecretRotationSignsWithBoth(t *testing.T) {
	f := newFixture(t)
	until := f.clock.Add(time.Hour)
	f.hook.OldSecret, f.hook.Secret, f.hook.OldSecretUntil = f.hook.Secret, "s3cret-two", &until
	if err := f.db.UpdateWebhook(context.Background(), f.hook, 1); err != nil {
		t.Fatal(err)
	}
	_ = f.db.AppendEvents(context.Background(), callEvents(1, 1, f.clock)...)
	f.d.RunOnce(context.Background())
	sig := f.recv.sigs[0]
	body, _ := json.Marshal(f.recv.got[0])
	for _, s := range []string{"s3cret-one", "s3cret-two"} {
		if err := Verify(s, sig, body, 100*365*24*time.Hour, time.Now()); err != nil {
			t.Fatalf("secret %s does not verify %q: %v", s, sig, err)
		}
	}
	// After the grace period only the new secret signs.
	f.clock = until.Add(time.Second)
	_ = f.db.AppendEvents(context.Background(), callEvents(1, 1, f.clock)...)
	f.d.RunOnce(context.Background())
	body, _ = json.Marshal(f.recv.got[1])
	if Verify("s3cret-one", f.recv.sigs[1], body, 100*365*24*time.Hour, time.Now()) == nil {
		t.Fatal("the old secret still signs after the grace period")
	}
}

func TestPendingDeliveriesSurviveRestart(t *testing.T) {
	f := newFixture(t)
	f.recv.fail = func(int) int { return http.StatusBadGateway }
	_ = f.db.AppendEvents(context.Background(), callEvents(3, 2, f.clock)...)
	f.d.RunOnce(context.Background()) // fails: all stay pending
	f.db.Close()

	db, err := store.Open(context.Background(), store.Config{DataDir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f.recv.fail = nil
	f.d = f.dispatcher(db)
	f.clock = f.clock.Add(time.Minute)
	f.drain(t, time.Minute, 5)
	ids := map[string]bool{}
	for _, e := range f.recv.got {
		ids[e.ID] = true
	}
	if len(ids) != 6 {
		t.Fatalf("after restart %d of 6 events arrived", len(ids))
	}
}

func TestSignatureVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	header := Sign(now, body, "k1", "k0")
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"current", "k1", header, body, now, nil},
		{"previous", "k0", header, body, now, nil},
		{"wrong secret", "k9", header, body, now, ErrSignatureMismatch},
		{"tampered body", "k1", header, []byte(`{"id":"evt_2"}`), now, ErrSignatureMismatch},
		{"replayed later", "k1", header, body, now.Add(time.Hour), ErrSignatureTooOld},
		{"garbage", "k1", "v1=abc", body, now, ErrBadSignatureHeader},
	}
	for _, tt := range tests {
		if err := Verify(tt.secret, tt.header, tt.body, 5*time.Minute, tt.at); err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestPrivateTargetsRefused(t *testing.T) {
	tests := []struct {
		url     string
		allowed bool
	}{
		{"http://127.0.0.1:8080/x", false},
		{"http://10.1.2.3/x", false},
		{"https://192.168.1.1/x", false},
		{"http://169.254.169.254/latest/meta-data", false},
		{"http://[::1]/x", false},
		{"http://[fd00::1]/x", false},
		{"http://100.64.0.1/x", false},
		{"http://0.0.0.0/x", false},
		{"https://93.184.216.34/hook", true},
		{"ftp://93.184.216.34/x", false},
		{"https://user:pw@93.184.216.34/x", false},
		{"/relative", false},
	}
	for _, tt := range tests {
		err := CheckURL(context.Background(), tt.url, false, nil)
		if (err == nil) != tt.allowed {
			t.Errorf("%s: %v", tt.url, err)
		}
	}
	// At delivery, the connect-time check stops what resolution let through.
	d := New(Config{}, nil, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	res := d.Post(context.Background(), &core.Webhook{URL: srv.URL, Secret: "x"}, &core.Event{ID: "evt_x", Type: core.EventCallCreated, Data: []byte("{}")})
	if res.Status != 0 || res.Error == "" {
		t.Fatalf("delivery to loopback was not refused: %+v", res)
	}
}
