package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// scrape is one /metrics exposition, parsed.
type scrape struct {
	raw      []byte
	families map[string]*dto.MetricFamily
}

// scrapeMetrics reads url (the text format) and parses it strictly; the
// test fails on anything the parser refuses.
func scrapeMetrics(t *testing.T, url, key string) scrape {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, raw)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, raw)
	}
	return scrape{raw: raw, families: families}
}

// value is the value of the sample of name whose labels include labels
// (name=value pairs): a counter's or gauge's value, or a histogram's count.
// It reports false when no sample matches.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f, ok := s.families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (s scrape) get(name string, labels ...string) float64 {
	v, _ := s.value(name, labels...)
	return v
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestMetricsFollowACall scrapes /metrics around real calls between test
// phones: calls, RTP, SIP, registrations, webhooks and HTTP all move.
func TestMetricsFollowACall(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	p := startPBX(t, 60*time.Second, func(c *serveCmd) { c.AllowPrivateWebhooks = true })
	url := p.api + "/metrics" // the API listens on loopback: no key needed
	if code := p.call("POST", "/v1/webhooks", map[string]any{"url": hook.URL + "/hook", "event_types": []string{"call.*"}}, nil); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	a := p.extension("4000", nil)
	b := p.extension("4001", nil)
	p.extension("4002", nil) // never registers
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMA")

	before := scrapeMetrics(t, url, "")
	if got := before.get("dialtone_sip_registrations"); got != 2 {
		t.Fatalf("registrations %v, want 2", got)
	}
	if got := before.get("dialtone_calls_active"); got != 0 {
		t.Fatalf("active calls %v before any call", got)
	}

	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
	during := scrapeMetrics(t, url, "")
	if got := during.get("dialtone_calls_active"); got != 1 {
		t.Fatalf("active calls %v during the call, want 1", got)
	}
	for _, dir := range []string{"in", "out"} {
		if during.get("dialtone_rtp_packets_total", "direction", dir) < 20 {
			t.Fatalf("rtp packets %s during the call: %v", dir, during.get("dialtone_rtp_packets_total", "direction", dir))
		}
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.Disposition != "answered" {
		t.Fatalf("call record: %+v", rec)
	}
	// A call that fails: the callee never registered.
	if _, err := caller.Dial(ctx, "4002"); err == nil {
		t.Fatal("a call to an unregistered extension was answered")
	}

	var after scrape
	// Settled: no call up, every event committed (a queued event has no
	// delivery yet) and every delivery made.
	settled := eventually(10*time.Second, func() bool {
		after = scrapeMetrics(t, url, "")
		return after.get("dialtone_calls_active") == 0 && after.get("dialtone_store_write_backlog") == 0 &&
			after.get("dialtone_webhook_deliveries_pending") == 0 &&
			after.get("dialtone_calls_total", "direction", "internal", "disposition", "failed") == 1
	})
	if !settled {
		t.Fatalf("metrics did not settle after the calls:\n%s", after.raw)
	}
	grew := []struct {
		name   string
		labels []string
		by     float64 // at least
	}{
		{"dialtone_calls_total", []string{"direction", "internal", "disposition", "answered"}, 1},
		{"dialtone_call_setup_seconds", []string{"direction", "internal"}, 1},
		{"dialtone_rtp_packets_total", []string{"direction", "in"}, 20},
		{"dialtone_rtp_packets_total", []string{"direction", "out"}, 20},
		{"dialtone_rtp_bytes_total", []string{"direction", "in"}, 20 * 160},
		{"dialtone_rtp_jitter_seconds", nil, 2},
		{"dialtone_sip_requests_total", []string{"direction", "in", "method", "INVITE"}, 2},
		{"dialtone_sip_requests_total", []string{"direction", "in", "method", "BYE"}, 1},
		{"dialtone_sip_requests_total", []string{"direction", "out", "method", "INVITE"}, 1},
		{"dialtone_sip_responses_total", []string{"direction", "out", "code", "200"}, 2},
		{"dialtone_sip_responses_total", []string{"direction", "out", "code", "480"}, 1},
		{"dialtone_sip_responses_total", []string{"direction", "in", "code", "200"}, 1},
		{"dialtone_webhook_attempts_total", []string{"result", "success"}, 4},
		{"dialtone_webhook_attempt_duration_seconds", nil, 4},
		{"dialtone_event_last_sequence", nil, 4},
		{"dialtone_http_requests_total", []string{"route", "/v1/call-records", "method", "GET", "code", "200"}, 1},
		{"dialtone_http_request_duration_seconds", []string{"route", "/v1/call-records", "method", "GET"}, 1},
		// Scrapes before and during the call; a scrape counts itself only
		// once it has been answered.
		{"dialtone_http_requests_total", []string{"route", "/metrics", "method", "GET", "code", "200"}, 2},
	}
	for _, g := range grew {
		if d := after.get(g.name, g.labels...) - before.get(g.name, g.labels...); d < g.by {
			t.Errorf("%s%v grew by %v, want at least %v", g.name, g.labels, d, g.by)
		}
	}
	present := []struct {
		name   string
		labels []string
	}{
		{"dialtone_http_requests_total", []string{"route", "/v1/extensions", "method", "POST", "code", "201"}},
		{"dialtone_sip_requests_total", []string{"direction", "in", "method", "REGISTER"}},
		{"dialtone_sip_responses_total", []string{"direction", "out", "code", "401"}},
		{"dialtone_event_outbox_lag", nil},
		{"dialtone_sip_auth_failures_total", nil},
		{"dialtone_sip_bans_total", []string{"reason", "flood"}},
		{"dialtone_rtp_packets_lost_total", nil},
		{"go_goroutines", nil},
		{"process_resident_memory_bytes", nil},
	}
	for _, pr := range present {
		if _, ok := after.value(pr.name, pr.labels...); !ok {
			t.Errorf("no %s%v in the exposition", pr.name, pr.labels)
		}
	}
	if after.get("dialtone_event_outbox_lag") != 0 {
		t.Errorf("outbox lag %v with every delivery made", after.get("dialtone_event_outbox_lag"))
	}
	for name := range after.families {
		if strings.Contains(name, "/v1/extensions/ext_") {
			t.Errorf("a raw path became a metric: %s", name)
		}
	}
	if bytes.Contains(after.raw, []byte(`route="/v1/extensions/ext_`)) {
		t.Error("a raw path is a route label")
	}
	checkWithPromtool(t, after.raw)
}

// checkWithPromtool runs `promtool check metrics` on an exposition when
// promtool is installed (Debian package prometheus).
func checkWithPromtool(t *testing.T, raw []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: exposition checked by the Go parser only")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsListener serves /metrics on a separate --metrics address,
// without a key, whatever the API requires.
func TestMetricsListener(t *testing.T) {
	p := startPBX(t, 60*time.Second, func(c *serveCmd) { c.Metrics = "127.0.0.1:0" })
	addr := p.app.metrics.side.ln.Addr().String()
	s := scrapeMetrics(t, "http://"+addr+"/metrics", "")
	if _, ok := s.value("dialtone_calls_active"); !ok {
		t.Fatalf("no dialtone_calls_active on the metrics listener:\n%s", s.raw)
	}
	res, err := http.Get("http://" + addr + "/v1/extensions")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("the metrics listener serves the API: %d", res.StatusCode)
	}
}

func TestMetricsOpenOnlyOnLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.9.9.9:8080", true},
		{"[::1]:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"192.0.2.10:8080", false},
		{"[2001:db8::1]:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := isLoopback(a); got != tt.want {
				t.Fatalf("isLoopback(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// TestMetricsListenerAddress refuses a --metrics value that is no address.
func TestMetricsListenerAddress(t *testing.T) {
	cmd := serveCmd{HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0", Domain: "pbx.test", RTPPorts: "31000-31099", MediaTimeout: time.Minute,
		Data: t.TempDir(), EventRetention: 168 * time.Hour, Country: "US", WebhookRetryBase: 10 * time.Second,
		Digest: []string{"MD5"}, Metrics: "9090"}
	e := env{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "DIALTONE_ADMIN_KEY" {
			return e2eKey
		}
		return ""
	}}
	a, err := openApp(context.Background(), cmd, e, newLogger(env{stderr: testWriter{t}}, "warn", "text"))
	if err == nil {
		_ = a.stop(time.Second)
		t.Fatal("--metrics 9090 accepted")
	}
	if !strings.Contains(err.Error(), "--metrics") {
		t.Fatalf("error does not name the flag: %v", err)
	}
}
