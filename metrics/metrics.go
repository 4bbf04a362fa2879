// Package metrics exports Dialtone's state and counters in the Prometheus
// text format. The other layers know nothing of Prometheus: they keep plain
// counters (atomics, read through a Stats method) that a Collector reads at
// scrape time, and report the rare events that feed histograms (a call
// answered or ended, a webhook attempt, an HTTP request) through small
// observer interfaces declared where they are called. Nothing here runs per
// RTP packet or per SIP message.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/sip/b2bua"
	"github.com/dialtone-pbx/dialtone/store"
	"github.com/dialtone-pbx/dialtone/webhook"
)

const namespace = "dialtone"

// SIPStats is the SIP front as read at each scrape.
type SIPStats interface {
	Stats() dsip.Stats
}

// Outbox is the event outbox as read at each scrape.
type Outbox interface {
	OutboxStats(ctx context.Context) (store.OutboxStats, error)
}

// Sources are what a scrape reads; nil ones are left out.
type Sources struct {
	SIP    SIPStats
	Outbox Outbox
	// Writes is the store's queue of runtime writes.
	Writes Writes
	Log    *slog.Logger
}

// Writes is the store's write queue as read at each scrape.
type Writes interface {
	WriteStats() store.WriteStats
}

// Metrics holds the registry and the metrics fed by events. It implements
// b2bua.Observer, webhook.Observer and api.RequestObserver.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	calls      *prometheus.CounterVec
	setup      *prometheus.HistogramVec
	rtpLost    prometheus.Counter
	rtpJitter  prometheus.Histogram
	hookTries  *prometheus.CounterVec
	hookFailed prometheus.Counter
	hookTime   prometheus.Histogram
	httpCount  *prometheus.CounterVec
	httpTime   *prometheus.HistogramVec
}

// New registers every metric: the Go runtime and process collectors, the
// scrape-time collector over src, and the event-fed ones.
func New(src Sources) *Metrics {
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: src.Log}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "calls_total",
		Help: "Calls ended, by direction (internal, inbound, outbound) and disposition (answered, no_answer, busy, failed, cancelled)."},
		[]string{"direction", "disposition"})
	m.setup = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "call_setup_seconds",
		Help:    "Time from a call's INVITE (or click-to-call request) to its answer, ringing included, of answered calls.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60}},
		[]string{"direction"})
	m.rtpLost = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "rtp_packets_lost_total",
		Help: "RTP packets missing from the streams the PBX received (RFC 3550 §6.4.1 cumulative loss), added when each call ends."})
	m.rtpJitter = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "rtp_jitter_seconds",
		Help:    "Interarrival jitter (RFC 3550 §6.4.1) of each call leg's received stream, as it stood when the call ended.",
		Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2}})
	m.hookTries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by result: success (2xx) or failure (any other answer, or none)."},
		[]string{"result"})
	m.hookFailed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_deliveries_failed_total",
		Help: "Webhook deliveries given up: failing for the whole retry window, or answered 410 Gone."})
	m.hookTime = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "webhook_attempt_duration_seconds",
		Help:    "Duration of webhook delivery attempts, until the endpoint's answer or the error.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}})
	m.httpCount = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP API requests, by route pattern (\"unmatched\" for none), method and status code."},
		[]string{"route", "method", "code"})
	m.httpTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "HTTP API request duration, by route pattern and method (event streams last as long as the stream).",
		Buckets: prometheus.DefBuckets},
		[]string{"route", "method"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(src),
		m.calls, m.setup, m.rtpLost, m.rtpJitter, m.hookTries, m.hookFailed, m.hookTime, m.httpCount, m.httpTime,
	)
	return m
}

// Registry is where every metric is registered (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition (text format, or protobuf/OpenMetrics when
// the scraper asks for them).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// CallAnswered implements b2bua.Observer.
func (m *Metrics) CallAnswered(dir call.Direction, setup time.Duration) {
	m.setup.WithLabelValues(string(dir)).Observe(setup.Seconds())
}

// CallEnded implements b2bua.Observer.
func (m *Metrics) CallEnded(rec call.Record) {
	m.calls.WithLabelValues(string(rec.Direction), string(rec.Disposition)).Inc()
	for _, q := range []call.LegQuality{rec.Caller, rec.Callee} {
		if q.PacketsIn == 0 {
			continue // a leg that never received media has no stream to judge
		}
		m.rtpLost.Add(float64(q.Lost))
		m.rtpJitter.Observe(q.JitterMs / 1000)
	}
}

// DeliveryAttempted implements webhook.Observer.
func (m *Metrics) DeliveryAttempted(res core.AttemptResult, state core.DeliveryStatus) {
	result := "failure"
	if res.Status >= 200 && res.Status <= 299 {
		result = "success"
	}
	m.hookTries.WithLabelValues(result).Inc()
	m.hookTime.Observe(res.Latency.Seconds())
	if state == core.DeliveryFailed {
		m.hookFailed.Inc()
	}
}

// ObserveRequest implements api.RequestObserver.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.httpCount.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpTime.WithLabelValues(route, method).Observe(d.Seconds())
}

var (
	_ b2bua.Observer   = (*Metrics)(nil)
	_ webhook.Observer = (*Metrics)(nil)
)
