package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outboxTimeout bounds the outbox read of one scrape.
const outboxTimeout = 5 * time.Second

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// collector reads the components' counters at scrape time.
type collector struct {
	src Sources
	log *slog.Logger

	activeCalls, registrations, banned                 *prometheus.Desc
	sipRequests, sipResponses, sipRefused, sipScreened *prometheus.Desc
	sipStateless, sipPanics                            *prometheus.Desc
	authFailures, bans                                 *prometheus.Desc
	rtpPackets, rtpBytes, rtpDropped                   *prometheus.Desc
	hookPending, outboxLag, lastSequence               *prometheus.Desc
	writeBacklog, writeRetries, writeFailed, shed      *prometheus.Desc
}

func newCollector(src Sources) *collector {
	return &collector{src: src, log: src.Log,
		activeCalls:   desc("calls_active", "Calls in progress: routing, ringing or answered."),
		registrations: desc("sip_registrations", "Live registered contacts of extensions."),
		banned:        desc("sip_banned_addresses", "Source addresses banned now."),
		sipRequests: desc("sip_requests_total",
			"SIP requests by method (\"other\" for unusual ones): received ones as passed by the front to the SIP stack, retransmissions included, and sent ones.",
			"direction", "method"),
		sipResponses: desc("sip_responses_total",
			"SIP responses by status code: received ones as passed by the front to the SIP stack, and sent ones.",
			"direction", "code"),
		sipRefused: desc("sip_messages_refused_total",
			"SIP messages the front dropped or answered itself: from banned sources, over the flood limit, or failing the screen."),
		sipScreened: desc("sip_messages_screened_total",
			"SIP messages, among the refused ones, that failed the screen (malformed, or missing what the PBX requires)."),
		sipStateless: desc("sip_requests_stateless_total",
			"SIP requests received over UDP, among sip_requests_total, that the front answered itself without a transaction (REGISTERs, the challenges of new INVITEs) or absorbed (the ACKs of stateless answers)."),
		sipPanics:    desc("sip_handler_panics_total", "SIP handler panics recovered (each answered 500)."),
		authFailures: desc("sip_auth_failures_total", "Failed SIP digest authentications."),
		bans:         desc("sip_bans_total", "Source addresses banned, by reason (auth_failures, flood).", "reason"),
		rtpPackets: desc("rtp_packets_total",
			"RTP packets of every call leg, received from the far ends (in) and sent to them (out); live calls count as they go.",
			"direction"),
		rtpBytes:   desc("rtp_bytes_total", "RTP bytes of every call leg, received (in) and sent (out).", "direction"),
		rtpDropped: desc("rtp_packets_dropped_total", "Packets arriving at a call leg's RTP port from a source other than its far end, or not RTP; never relayed."),
		hookPending: desc("webhook_deliveries_pending",
			"Webhook deliveries to enabled subscriptions not yet made: due now or waiting for a retry."),
		outboxLag: desc("event_outbox_lag",
			"Events the webhooks are behind: from the oldest event with a pending delivery to the newest event, inclusive; 0 when every delivery is done."),
		lastSequence: desc("event_last_sequence", "Sequence number of the newest event in the outbox."),
		writeBacklog: desc("store_write_backlog", "Call records and events queued for the database, not yet committed."),
		writeRetries: desc("store_write_retries_total", "Group commits of queued writes that failed for a passing reason and were retried."),
		writeFailed:  desc("store_writes_failed_total", "Queued writes that failed for good (each logged)."),
		shed: desc("calls_refused_overload_total",
			"New calls refused with 503 and Retry-After because the database's write backlog was too deep."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.activeCalls, c.registrations, c.banned, c.sipRequests, c.sipResponses,
		c.sipRefused, c.sipScreened, c.sipStateless, c.sipPanics, c.authFailures, c.bans, c.rtpPackets, c.rtpBytes, c.rtpDropped,
		c.hookPending, c.outboxLag, c.lastSequence, c.writeBacklog, c.writeRetries, c.writeFailed, c.shed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.SIP != nil {
		st := c.src.SIP.Stats()
		gauge(c.activeCalls, float64(st.Calls.ActiveCalls))
		gauge(c.registrations, float64(st.Registrations))
		gauge(c.banned, float64(st.Guard.Banned))
		for m, n := range st.Messages.RequestsIn {
			counter(c.sipRequests, n, "in", m)
		}
		for m, n := range st.Messages.RequestsOut {
			counter(c.sipRequests, n, "out", m)
		}
		for code, n := range st.Messages.ResponsesIn {
			counter(c.sipResponses, n, "in", code)
		}
		for code, n := range st.Messages.ResponsesOut {
			counter(c.sipResponses, n, "out", code)
		}
		counter(c.sipRefused, st.Refused)
		counter(c.sipScreened, st.Screened)
		counter(c.sipStateless, st.Stateless)
		counter(c.sipPanics, st.Panics)
		counter(c.authFailures, st.Guard.Failures)
		for reason, n := range st.Guard.Bans {
			counter(c.bans, n, reason)
		}
		media := st.Calls.Media
		counter(c.rtpPackets, media.PacketsIn, "in")
		counter(c.rtpPackets, media.PacketsOut, "out")
		counter(c.rtpBytes, media.BytesIn, "in")
		counter(c.rtpBytes, media.BytesOut, "out")
		counter(c.rtpDropped, media.Dropped)
	}
	if c.src.Writes != nil {
		w := c.src.Writes.WriteStats()
		gauge(c.writeBacklog, float64(w.Backlog))
		counter(c.writeRetries, uint64(w.Retries))
		counter(c.writeFailed, uint64(w.Refused))
		counter(c.shed, uint64(w.Shed))
	}
	if c.src.Outbox != nil {
		ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
		defer cancel()
		st, err := c.src.Outbox.OutboxStats(ctx)
		if err != nil {
			c.log.Warn("read the outbox for metrics", "error", err)
			ch <- prometheus.NewInvalidMetric(c.hookPending, err)
			return
		}
		gauge(c.hookPending, float64(st.Pending))
		gauge(c.outboxLag, float64(st.Lag()))
		gauge(c.lastSequence, float64(st.LastSequence))
	}
}
