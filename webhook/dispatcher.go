package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// Config of the dispatcher.
type Config struct {
	AllowPrivate   bool          // deliver to loopback/private addresses (tests, lab setups)
	Workers        int           // deliveries in flight at once
	ConnectTimeout time.Duration // 5 s
	RequestTimeout time.Duration // 10 s for the whole request
	RetryBase      time.Duration // first retry delay, doubling: 10 s
	RetryMax       time.Duration // longest retry delay: 1 h
	GiveUpAfter    time.Duration // a delivery, and a subscription, failing this long is given up: 24 h
	Rotation       time.Duration // how long a rotated-out secret keeps signing: 24 h
}

// DefaultConfig holds the documented defaults.
func DefaultConfig() Config {
	return Config{Workers: 8, ConnectTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second,
		RetryBase: 10 * time.Second, RetryMax: time.Hour, GiveUpAfter: 24 * time.Hour, Rotation: 24 * time.Hour}
}

// Envelope is the JSON body of every delivery.
type Envelope struct {
	ID         string          `json:"id"`
	Type       core.EventType  `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Sequence   int64           `json:"sequence"`
	Data       json.RawMessage `json:"data"`
}

// EnvelopeOf wraps an event for delivery or streaming.
func EnvelopeOf(e *core.Event) Envelope {
	return Envelope{ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt, Sequence: e.Sequence, Data: e.Data}
}

// Dispatcher delivers pending deliveries from the outbox.
type Dispatcher struct {
	cfg    Config
	repo   core.WebhookRepo
	log    *slog.Logger
	client *http.Client
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Jitter returns a factor in [0.8, 1.2) applied to retry delays.
	Jitter func() float64
	// Observer, when set before Run, is told about every attempt.
	Observer Observer

	mu       sync.Mutex
	inflight map[string]bool
}

// New returns a dispatcher.
func New(cfg Config, repo core.WebhookRepo, log *slog.Logger) *Dispatcher {
	def := DefaultConfig()
	for _, f := range []struct{ v, d *time.Duration }{
		{&cfg.ConnectTimeout, &def.ConnectTimeout}, {&cfg.RequestTimeout, &def.RequestTimeout},
		{&cfg.RetryBase, &def.RetryBase}, {&cfg.RetryMax, &def.RetryMax},
		{&cfg.GiveUpAfter, &def.GiveUpAfter}, {&cfg.Rotation, &def.Rotation},
	} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if cfg.Workers == 0 {
		cfg.Workers = def.Workers
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout}
	if !cfg.AllowPrivate {
		dialer.Control = dialControl
	}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Dispatcher{
		cfg: cfg, repo: repo, log: log, Now: time.Now,
		Jitter:   func() float64 { return 0.8 + 0.4*rand.Float64() },
		inflight: map[string]bool{},
		client: &http.Client{Transport: transport, Timeout: cfg.RequestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Config returns the dispatcher's configuration.
func (d *Dispatcher) Config() Config { return d.cfg }

// nextDue is a repository that tells when the next delivery is due.
type nextDue interface {
	NextDeliveryDue(ctx context.Context) (time.Time, bool, error)
}

// Idle waits of the dispatcher: it sleeps until the next delivery is due,
// at most maxIdle (a safety net), and polls every pollIdle when the
// repository cannot tell when that is.
const (
	maxIdle  = time.Minute
	pollIdle = time.Second
)

// Run delivers until ctx ends. It wakes on wake (new deliveries queued) or
// when the earliest pending delivery is due, so it costs nothing while no
// subscription has anything to deliver.
func (d *Dispatcher) Run(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTimer(pollIdle)
	defer t.Stop()
	for {
		if n := d.RunOnce(ctx); n > 0 {
			continue // more may be due right away: the next event of a call
		}
		t.Reset(d.idle(ctx))
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// idle is how long to wait before looking for due deliveries again.
func (d *Dispatcher) idle(ctx context.Context) time.Duration {
	r, ok := d.repo.(nextDue)
	if !ok {
		return pollIdle
	}
	at, pending, err := r.NextDeliveryDue(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			d.log.Error("read the next due delivery", "error", err)
		}
		return pollIdle
	case !pending:
		return maxIdle
	}
	return min(max(at.Sub(d.Now()), 10*time.Millisecond), maxIdle)
}

// RunOnce attempts every delivery that is due now and returns how many it attempted.
func (d *Dispatcher) RunOnce(ctx context.Context) int {
	d.mu.Lock()
	exclude := make(map[string]bool, len(d.inflight))
	for id := range d.inflight {
		exclude[id] = true
	}
	d.mu.Unlock()
	due, err := d.repo.DueDeliveries(ctx, d.Now(), 200, exclude)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("read due deliveries", "error", err)
		}
		return 0
	}
	hooks := map[core.WebhookID]*core.Webhook{}
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	for _, dl := range due {
		h, ok := hooks[dl.WebhookID]
		if !ok {
			if h, err = d.repo.GetWebhook(ctx, dl.WebhookID); err != nil {
				continue
			}
			hooks[dl.WebhookID] = h
		}
		d.mu.Lock()
		d.inflight[dl.ID] = true
		d.mu.Unlock()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-sem
				d.mu.Lock()
				delete(d.inflight, dl.ID)
				d.mu.Unlock()
				wg.Done()
			}()
			d.attempt(ctx, h, dl)
		}()
	}
	wg.Wait()
	return len(due)
}

// Post sends one signed envelope and returns the outcome (no retry logic).
func (d *Dispatcher) Post(ctx context.Context, h *core.Webhook, e *core.Event) core.AttemptResult {
	now := d.Now()
	body, _ := json.Marshal(EnvelopeOf(e))
	secrets := []string{h.Secret.Reveal()}
	if h.OldSecret != "" && h.OldSecretUntil != nil && now.Before(*h.OldSecretUntil) {
		secrets = append(secrets, h.OldSecret.Reveal())
	}
	res := core.AttemptResult{At: now}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Dialtone-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(now, body, secrets...))
	setStandardHeaders(req.Header, e.ID, now, body, secrets...)
	req.Header.Set("Dialtone-Event-Id", e.ID)
	req.Header.Set("Dialtone-Event-Type", string(e.Type))
	start := time.Now()
	resp, err := d.client.Do(req)
	res.Latency = time.Since(start)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	res.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Error = fmt.Sprintf("endpoint answered %d", resp.StatusCode)
	}
	return res
}

func (d *Dispatcher) attempt(ctx context.Context, h *core.Webhook, dl *core.Delivery) {
	res := d.Post(ctx, h, dl.Event)
	now := res.At
	dl.Attempts++
	// h is shared by the deliveries of one RunOnce; its health is decided under d.mu.
	var markHealthy, markFailing bool
	disableReason := ""
	d.mu.Lock()
	switch {
	case res.Status >= 200 && res.Status <= 299:
		dl.Status = core.DeliverySucceeded
		if h.FailingSince != nil {
			h.FailingSince, markHealthy = nil, true
		}
	case res.Status == http.StatusGone:
		dl.Status = core.DeliveryFailed
		disableReason = "the endpoint answered 410 Gone"
	default:
		if now.Sub(dl.CreatedAt) >= d.cfg.GiveUpAfter {
			dl.Status = core.DeliveryFailed
		} else {
			dl.NextAttemptAt = now.Add(d.backoff(dl.Attempts))
		}
		if h.FailingSince == nil {
			h.FailingSince, markFailing = &now, true
		} else if now.Sub(*h.FailingSince) >= d.cfg.GiveUpAfter {
			disableReason = fmt.Sprintf("failing since %s: %s", h.FailingSince.Format(time.RFC3339), res.Error)
		}
	}
	if disableReason != "" && h.Enabled {
		h.Enabled = false
	} else {
		disableReason = ""
	}
	d.mu.Unlock()
	d.observe(res, dl.Status)
	switch {
	case markHealthy:
		_ = d.repo.MarkWebhookHealth(ctx, h.ID, nil)
	case markFailing:
		_ = d.repo.MarkWebhookHealth(ctx, h.ID, &now)
	}
	if disableReason != "" {
		d.disable(ctx, h.ID, disableReason)
	}
	if err := d.repo.RecordAttempt(ctx, dl, res); err != nil && ctx.Err() == nil {
		d.log.Error("record delivery attempt", "delivery", dl.ID, "error", err)
	}
}

// backoff is RetryBase doubled per earlier attempt, capped at RetryMax, with jitter.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	delay := d.cfg.RetryBase
	for i := 1; i < attempts && delay < d.cfg.RetryMax; i++ {
		delay *= 2
	}
	delay = min(delay, d.cfg.RetryMax)
	return time.Duration(float64(delay) * d.Jitter())
}

func (d *Dispatcher) disable(ctx context.Context, id core.WebhookID, reason string) {
	ev := core.NewEvent(core.EventWebhookDisabled, d.Now(), "webhook:"+string(id), nil,
		core.WebhookEventData{WebhookID: string(id), Reason: reason})
	if err := d.repo.DisableWebhook(ctx, id, reason, ev); err != nil {
		d.log.Error("disable webhook", "webhook", id, "error", err)
		return
	}
	d.log.Warn("webhook disabled", "webhook", id, "reason", reason)
}
