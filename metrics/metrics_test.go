package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media"
	"github.com/dialtone-pbx/dialtone/metrics"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
	"github.com/dialtone-pbx/dialtone/store"
)

type fakeSIP struct{ st dsip.Stats }

func (f *fakeSIP) Stats() dsip.Stats { return f.st }

type fakeOutbox struct {
	st  store.OutboxStats
	err error
}

func (f *fakeOutbox) OutboxStats(context.Context) (store.OutboxStats, error) { return f.st, f.err }

func sampleSIP() *fakeSIP {
	return &fakeSIP{st: dsip.Stats{
		Registrations: 3,
		Calls:         b2bua.Stats{ActiveCalls: 2, Media: media.Stats{PacketsIn: 500, PacketsOut: 490, BytesIn: 86000, BytesOut: 84280, Dropped: 7}},
		Guard:         auth.GuardStats{Failures: 12, Bans: map[string]uint64{auth.BanAuthFailures: 1, auth.BanFlood: 2}, Banned: 3},
		Messages: dsip.MessageStats{
			RequestsIn: map[string]uint64{"INVITE": 4, "other": 1}, RequestsOut: map[string]uint64{"BYE": 2},
			ResponsesIn: map[string]uint64{"200": 3}, ResponsesOut: map[string]uint64{"401": 5, "200": 6},
		},
		Refused: 9, Screened: 4, Stateless: 6, Panics: 1,
	}}
}

// TestExpositionPassesLint runs the checks `promtool check metrics` runs
// (promlint) over everything the registry gathers, events included.
func TestExpositionPassesLint(t *testing.T) {
	m := metrics.New(metrics.Sources{SIP: sampleSIP(), Outbox: &fakeOutbox{st: store.OutboxStats{LastSequence: 40, Pending: 3, OldestPending: 31}}})
	m.CallAnswered(call.Internal, 2500*time.Millisecond)
	m.CallEnded(call.Record{Direction: call.Internal, Disposition: call.Answered,
		Caller: call.LegQuality{PacketsIn: 100, Lost: 2, JitterMs: 3}, Callee: call.LegQuality{PacketsIn: 100, JitterMs: 1}})
	m.DeliveryAttempted(core.AttemptResult{Status: 204, Latency: 30 * time.Millisecond}, core.DeliverySucceeded)
	m.ObserveRequest("/v1/extensions/{id}", "GET", 200, 3*time.Millisecond)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestScrapeReadsSources(t *testing.T) {
	m := metrics.New(metrics.Sources{SIP: sampleSIP(), Outbox: &fakeOutbox{st: store.OutboxStats{LastSequence: 40, Pending: 3, OldestPending: 31}}})
	m.CallEnded(call.Record{Direction: call.Inbound, Disposition: call.Busy})
	m.CallEnded(call.Record{Direction: call.Internal, Disposition: call.Answered,
		Caller: call.LegQuality{PacketsIn: 100, Lost: 2, JitterMs: 3}, Callee: call.LegQuality{PacketsIn: 100, Lost: 1, JitterMs: 1}})
	m.DeliveryAttempted(core.AttemptResult{Status: 500}, core.DeliveryPending)
	m.DeliveryAttempted(core.AttemptResult{Error: "connection refused"}, core.DeliveryFailed)
	tests := []struct {
		name, want string
	}{
		{"dialtone_calls_active", "dialtone_calls_active 2"},
		{"dialtone_sip_registrations", "dialtone_sip_registrations 3"},
		{"dialtone_sip_requests_total", `dialtone_sip_requests_total{direction="in",method="INVITE"} 4
dialtone_sip_requests_total{direction="in",method="other"} 1
dialtone_sip_requests_total{direction="out",method="BYE"} 2`},
		{"dialtone_sip_responses_total", `dialtone_sip_responses_total{code="200",direction="in"} 3
dialtone_sip_responses_total{code="200",direction="out"} 6
dialtone_sip_responses_total{code="401",direction="out"} 5`},
		{"dialtone_sip_messages_refused_total", "dialtone_sip_messages_refused_total 9"},
		{"dialtone_sip_messages_screened_total", "dialtone_sip_messages_screened_total 4"},
		{"dialtone_sip_requests_stateless_total", "dialtone_sip_requests_stateless_total 6"},
		{"dialtone_sip_auth_failures_total", "dialtone_sip_auth_failures_total 12"},
		{"dialtone_sip_bans_total", `dialtone_sip_bans_total{reason="auth_failures"} 1
dialtone_sip_bans_total{reason="flood"} 2`},
		{"dialtone_rtp_packets_total", `dialtone_rtp_packets_total{direction="in"} 500
dialtone_rtp_packets_total{direction="out"} 490`},
		{"dialtone_rtp_packets_dropped_total", "dialtone_rtp_packets_dropped_total 7"},
		{"dialtone_rtp_packets_lost_total", "dialtone_rtp_packets_lost_total 3"},
		{"dialtone_calls_total", `dialtone_calls_total{direction="inbound",disposition="busy"} 1
dialtone_calls_total{direction="internal",disposition="answered"} 1`},
		{"dialtone_webhook_attempts_total", `dialtone_webhook_attempts_total{result="failure"} 2`},
		{"dialtone_webhook_deliveries_failed_total", "dialtone_webhook_deliveries_failed_total 1"},
		{"dialtone_webhook_deliveries_pending", "dialtone_webhook_deliveries_pending 3"},
		{"dialtone_event_outbox_lag", "dialtone_event_outbox_lag 10"},
		{"dialtone_event_last_sequence", "dialtone_event_last_sequence 40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(expected(t, m, tt.name, tt.want)), tt.name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// expected prefixes want with the HELP and TYPE lines the registry gives name.
func expected(t *testing.T, m *metrics.Metrics, name, want string) string {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return "# HELP " + name + " " + f.GetHelp() + "\n# TYPE " + name + " " + strings.ToLower(f.GetType().String()) + "\n" + want + "\n"
		}
	}
	t.Fatalf("no %s gathered", name)
	return ""
}

// TestOutboxFailureKeepsTheRest: a scrape while the database does not
// answer still serves every other metric.
func TestOutboxFailureKeepsTheRest(t *testing.T) {
	m := metrics.New(metrics.Sources{SIP: sampleSIP(), Outbox: &fakeOutbox{err: errors.New("database is locked")}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "dialtone_calls_active 2") ||
		strings.Contains(string(body), "dialtone_webhook_deliveries_pending") {
		t.Fatalf("status %d:\n%s", res.StatusCode, body)
	}
}

// TestOutboxStatsFromTheStore reads pending deliveries and the lag from a
// real database: deliveries to enabled webhooks only.
func TestOutboxStatsFromTheStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := func(i int) core.Event {
		return core.NewEvent(core.EventCallRinging, now, "call:x", nil, map[string]any{"i": i})
	}
	// Events before any subscription have no delivery.
	if err := db.AppendEvents(ctx, ev(1), ev(2)); err != nil {
		t.Fatal(err)
	}
	st, err := db.OutboxStats(ctx)
	if err != nil || st.Pending != 0 || st.Lag() != 0 || st.LastSequence != 2 {
		t.Fatalf("no subscription: %+v (lag %d), %v", st, st.Lag(), err)
	}
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example.com/hook",
		EventTypes: []string{"call.*"}, Enabled: true, Secret: "whsec_x", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(ctx, ev(3), ev(4), ev(5)); err != nil {
		t.Fatal(err)
	}
	st, err = db.OutboxStats(ctx)
	if err != nil || st.Pending != 3 || st.OldestPending != 3 || st.LastSequence != 5 || st.Lag() != 3 {
		t.Fatalf("three pending: %+v (lag %d), %v", st, st.Lag(), err)
	}
	hook.Enabled = false
	if err := db.UpdateWebhook(ctx, hook, hook.Version); err != nil {
		t.Fatal(err)
	}
	st, err = db.OutboxStats(ctx)
	if err != nil || st.Pending != 0 || st.Lag() != 0 {
		t.Fatalf("webhook disabled: %+v (lag %d), %v", st, st.Lag(), err)
	}
}
