package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/media/audio"
	"github.com/dialtone-pbx/dialtone/media/audio/system"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/store"
	"github.com/dialtone-pbx/dialtone/webhook"
)

type serveCmd struct {
	HTTP                 string        `name:"http" env:"DIALTONE_HTTP" default:"127.0.0.1:8080" help:"Address of the REST API."`
	SIP                  string        `name:"sip" env:"DIALTONE_SIP" default:"0.0.0.0:5060" help:"Address of SIP over UDP and TCP."`
	Domain               string        `name:"domain" env:"DIALTONE_DOMAIN" help:"SIP domain and digest realm (default: the host name)."`
	RTPPorts             string        `name:"rtp-ports" env:"DIALTONE_RTP_PORTS" default:"10000-20000" help:"UDP port range for RTP, as MIN-MAX."`
	Advertise            string        `name:"advertise" env:"DIALTONE_ADVERTISE" help:"IP address put in SIP and SDP when it differs from the listening one (default: derived)."`
	Digest               []string      `name:"digest-algorithms" env:"DIALTONE_DIGEST_ALGORITHMS" default:"MD5" help:"SIP digest algorithms offered (MD5, SHA-256), in order of preference; an extension may have its own list. SHA-256 is opt-in: many phones give up on any SHA-256 challenge."`
	MediaTimeout         time.Duration `name:"media-timeout" env:"DIALTONE_MEDIA_TIMEOUT" default:"60s" help:"Hang up a call when a party that should send RTP has sent none for this long."`
	Emergency            []string      `name:"emergency-numbers" env:"DIALTONE_EMERGENCY_NUMBERS" default:"911,933,112" help:"Numbers always allowed, over the highest-priority trunk."`
	MinSE                time.Duration `name:"min-se" env:"DIALTONE_MIN_SE" default:"90s" help:"Shortest SIP session timer interval accepted (RFC 4028 Min-SE); shorter requests get 422."`
	SessionExpires       time.Duration `name:"session-expires" env:"DIALTONE_SESSION_EXPIRES" default:"30m" help:"SIP session timer interval asked of called phones and trunks (RFC 4028)."`
	TrunkRetry           time.Duration `name:"trunk-retry" env:"DIALTONE_TRUNK_RETRY" default:"30s" help:"First retry delay after a failed trunk registration; it doubles up to 5m."`
	Country              string        `name:"country" env:"DIALTONE_COUNTRY" default:"US" help:"Home country (ISO 3166 alpha-2) for reading and classifying national numbers."`
	Data                 string        `name:"data" env:"DIALTONE_DATA" default:"./data" help:"Data directory (database, keys, recordings)."`
	AllowPrivateWebhooks bool          `name:"allow-private-webhooks" env:"DIALTONE_ALLOW_PRIVATE_WEBHOOKS" help:"Allow webhook URLs on loopback, private and link-local addresses."`
	EventRetention       time.Duration `name:"event-retention" env:"DIALTONE_EVENT_RETENTION" default:"168h" help:"How long events are kept for replay and redelivery."`
	WebhookRetryBase     time.Duration `name:"webhook-retry-base" env:"DIALTONE_WEBHOOK_RETRY_BASE" default:"10s" help:"First webhook retry delay; it doubles up to 1 h."`
	LogLevel             string        `name:"log-level" env:"DIALTONE_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Least severe level logged (debug, info, warn, error)."`
	LogFormat            string        `name:"log-format" env:"DIALTONE_LOG_FORMAT" default:"text" enum:"text,json" help:"Log line format (text, json)."`
	ShutdownTimeout      time.Duration `name:"shutdown-timeout" env:"DIALTONE_SHUTDOWN_TIMEOUT" default:"10s" help:"How long in-flight requests may run on after SIGINT/SIGTERM."`
	MaxWriteBacklog      int           `name:"max-write-backlog" env:"DIALTONE_MAX_WRITE_BACKLOG" default:"5000" help:"Call records and events queued for the database from which new calls get 503 with Retry-After until the queue drains."`
	CORSOrigins          []string      `name:"cors-origins" env:"DIALTONE_CORS_ORIGINS" help:"Browser origins allowed to call the API (CORS), comma-separated exact origins such as https://crm.example.com, or *; off when empty."`
	Pprof                string        `name:"pprof" env:"DIALTONE_PPROF" help:"Loopback address of a separate listener serving Go's CPU and heap profiles (/debug/pprof/), such as 127.0.0.1:6060; off when empty."`
	Metrics              string        `name:"metrics" env:"DIALTONE_METRICS" help:"Address of a separate listener serving /metrics (Prometheus) without an API key, such as 127.0.0.1:9090. The API serves /metrics too: without a key when it listens on loopback, else to admin keys."`
}

// Help documents what is read from the environment only.
func (serveCmd) Help() string {
	return "Environment:\n\n" +
		"  DIALTONE_ADMIN_KEY  admin API key (at least 24 characters) created on the first start of an empty database " +
		"(default: generated and printed once); ignored, with a warning, once the database has keys: " +
		"use `dialtone keys create` to add one.\n\n" +
		"Every flag below can also be set by the environment variable shown beside it."
}

type migrateCmd struct {
	Data string `name:"data" env:"DIALTONE_DATA" default:"./data" help:"Data directory."`
}

func (m migrateCmd) Run(ctx context.Context) error {
	return store.Migrate(ctx, store.Config{DataDir: m.Data})
}

func newLogger(e env, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(keepAttrs(slog.NewJSONHandler(e.stderr, opts)))
	}
	return slog.New(keepAttrs(slog.NewTextHandler(e.stderr, opts)))
}

// sipConfig maps the flags onto the SIP front's configuration.
func (c serveCmd) sipConfig() (dsip.Config, error) {
	cfg := dsip.Config{Listen: c.SIP, Domain: c.Domain, MediaTimeout: c.MediaTimeout, Algorithms: c.Digest, Country: c.Country,
		Emergency: c.Emergency, Trunks: dsip.TrunkTiming{RetryFirst: c.TrunkRetry}, MinSE: c.MinSE, SessionExpires: c.SessionExpires}
	if cfg.Domain == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "dialtone.local"
		}
		cfg.Domain = host
	}
	lo, hi, ok := strings.Cut(c.RTPPorts, "-")
	var err1, err2 error
	cfg.RTPMin, err1 = strconv.Atoi(strings.TrimSpace(lo))
	cfg.RTPMax, err2 = strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil {
		return cfg, fmt.Errorf("--rtp-ports %q: want MIN-MAX, such as 10000-20000", c.RTPPorts)
	}
	if c.Advertise != "" {
		a, err := netip.ParseAddr(c.Advertise)
		if err != nil {
			return cfg, fmt.Errorf("--advertise %q is not an IP address", c.Advertise)
		}
		cfg.Advertise = a
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country {
		return cfg, fmt.Errorf("--country %q: want an ISO 3166 alpha-2 code such as US or GB", c.Country)
	}
	if c.EventRetention < time.Hour {
		return cfg, fmt.Errorf("--event-retention %s is too short (at least 1h)", c.EventRetention)
	}
	if c.WebhookRetryBase < 100*time.Millisecond {
		return cfg, fmt.Errorf("--webhook-retry-base %s is too short", c.WebhookRetryBase)
	}
	if c.MediaTimeout < time.Second {
		return cfg, fmt.Errorf("--media-timeout %s is too short", c.MediaTimeout)
	}
	return cfg, cfg.Validate()
}

// app is the running PBX: database, SIP front, webhook dispatcher and REST API.
type app struct {
	log       *slog.Logger
	db        *store.DB
	sip       *dsip.Server
	http      *http.Server
	ln        net.Listener
	webhooks  *webhook.Dispatcher
	retention time.Duration
	stopping  chan struct{}
	metrics   *monitoring
	profiling *profiling
}

// minAdminKeyLength is the shortest admin key DIALTONE_ADMIN_KEY may give.
const minAdminKeyLength = 24

// openApp binds every socket and opens the database; nothing is served yet.
func openApp(ctx context.Context, c serveCmd, e env, log *slog.Logger) (*app, error) {
	sipCfg, err := c.sipConfig()
	if err != nil {
		return nil, err
	}
	if n := len([]rune(strings.TrimSpace(e.getenv("DIALTONE_ADMIN_KEY")))); n > 0 && n < minAdminKeyLength {
		return nil, fmt.Errorf("DIALTONE_ADMIN_KEY is %d characters long: an admin key needs at least %d "+
			"(such as the output of `openssl rand -base64 24`); unset it to have one generated", n, minAdminKeyLength)
	}
	if err := api.CheckCORSOrigins(c.CORSOrigins); err != nil {
		return nil, fmt.Errorf("--cors-origins: %w", err)
	}
	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return nil, fmt.Errorf("listen for http on %s: %w", c.HTTP, errors.Unwrap(err))
	}
	if c.MaxWriteBacklog < 0 {
		ln.Close()
		return nil, fmt.Errorf("--max-write-backlog %d: want a positive number", c.MaxWriteBacklog)
	}
	db, err := store.Open(ctx, store.Config{DataDir: c.Data, MaxWriteBacklog: c.MaxWriteBacklog, Log: log.With("component", "store")})
	if err != nil {
		ln.Close()
		return nil, err
	}
	fail := func(err error) (*app, error) {
		ln.Close()
		db.Close()
		return nil, err
	}
	if mode, exposed := store.DataDirExposed(c.Data); exposed {
		log.Warn("data dir is open to other users: chmod 700 it", "dir", c.Data, "mode", mode)
	}
	if n, err := db.CloseDanglingCallRecords(ctx, time.Now(), call.CauseShutdown); err != nil {
		return fail(err)
	} else if n > 0 {
		log.Warn("closed call records left open by a stopped server", "count", n)
	}
	keys := &core.APIKeys{Repo: db, Extensions: db}
	configured := strings.TrimSpace(e.getenv("DIALTONE_ADMIN_KEY"))
	secret, created, err := keys.Bootstrap(ctx, configured)
	if err != nil {
		return fail(fmt.Errorf("create the first admin key: %w", err))
	}
	switch {
	case created && configured == "":
		fmt.Fprintf(e.stderr, "\nAdmin API key (shown once, keep it safe):\n\n    %s\n\n", secret.Reveal())
	case created:
		log.Info("admin api key created from DIALTONE_ADMIN_KEY")
	case configured != "":
		log.Warn("DIALTONE_ADMIN_KEY ignored: the database already has API keys; use `dialtone keys create`")
	}
	dir := newCachedDirectory(db)
	sipSrv, err := dsip.Listen(sipCfg, log.With("component", "sip"), dir, db, db)
	if err != nil {
		return fail(err)
	}
	if err := sipSrv.Restore(ctx, db); err != nil {
		sipSrv.Shutdown(ctx)
		return fail(err)
	}
	prompts := audio.NewLibrary(db, audio.SystemPrompts{Samples: system.Samples, Languages: system.Languages})
	sipSrv.B2BUA.SetEngine(newEngine(db, prompts))
	hookCfg := webhook.DefaultConfig()
	hookCfg.AllowPrivate = c.AllowPrivateWebhooks
	hookCfg.RetryBase = c.WebhookRetryBase
	dispatcher := webhook.New(hookCfg, db, log.With("component", "webhooks"))
	mon, metricsCfg, err := openMonitoring(c.Metrics, ln, sipSrv, dispatcher, db, log.With("component", "metrics"))
	if err != nil {
		sipSrv.Shutdown(ctx)
		return fail(err)
	}
	prof, err := openProfiling(c.Pprof, log.With("component", "pprof"))
	if err != nil {
		mon.close(ctx)
		sipSrv.Shutdown(ctx)
		return fail(err)
	}
	stop := make(chan struct{})
	h := api.New(api.Deps{
		Extensions: &core.Extensions{Repo: db, Emergency: c.Emergency, OnChange: extensionsChanged(sipSrv.CacheCredentials(), dir.changed)},
		APIKeys:    keys, Idempotency: db, DB: db,
		SIP: sipSrv, Calls: sipSrv.B2BUA, CallRecords: db,
		WebhookRepo: db, WebhookSender: dispatcher, Events: db, Stop: stop,
		Trunks: db, Numbers: db, OutboundRoutes: db, Allowlist: db, Country: c.Country,
		Logger: log.With("component", "api"), CORSOrigins: c.CORSOrigins, Metrics: metricsCfg,
		Prompts: db, MOHClasses: db, Schedules: db, CallPlans: db,
	})
	return &app{log: log, db: db, sip: sipSrv, ln: ln, webhooks: dispatcher, retention: c.EventRetention, stopping: stop, metrics: mon, profiling: prof, http: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// serve runs until ctx ends or the HTTP server fails.
func (a *app) serve(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.http.Serve(a.ln) }()
	a.metrics.serve()
	a.profiling.serve()
	a.sip.Serve(ctx)
	trim := newHeapTrimmer()
	go every(ctx, trimEvery, a.log, "trim heap", func(context.Context) error {
		trim.tick()
		return nil
	})
	go every(ctx, time.Hour, a.log, "purge idempotency keys", func(ctx context.Context) error {
		_, err := a.db.PurgeIdempotencyKeys(ctx, time.Now().Add(-api.IdempotencyTTL))
		return err
	})
	go every(ctx, time.Hour, a.log, "purge events", func(ctx context.Context) error {
		_, err := a.db.PurgeEvents(ctx, time.Now().Add(-a.retention))
		return err
	})
	wake, unsubscribe := a.db.SubscribeDeliveries()
	go func() {
		defer unsubscribe()
		a.webhooks.Run(ctx, wake)
	}()
	a.log.Info("dialtone serving", "http", a.ln.Addr().String(), "sip", a.sip.Addr().String(), "version", buildVersion())
	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// stop lets in-flight calls and requests finish (bounded) and closes the
// database: new calls are refused and live ones sent BYE, then every call's
// record and call.ended are queued, then the write queue is flushed, and only
// then is the database closed.
func (a *app) stop(timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	close(a.stopping) // ends event streams, which would hold Shutdown up
	a.sip.Shutdown(sctx)
	if n := a.sip.B2BUA.Live(); n > 0 {
		a.log.Warn("calls still up at shutdown: closed as failed at the next start", "calls", n)
	}
	if err := a.http.Shutdown(sctx); err != nil {
		a.log.Warn("in-flight requests cut off at shutdown", "error", err)
		_ = a.http.Close()
	}
	a.metrics.close(sctx)
	a.profiling.close(sctx)
	fctx, fcancel := context.WithTimeout(context.Background(), timeout)
	defer fcancel()
	if err := a.db.Flush(fctx); err != nil {
		a.log.Warn("queued writes still pending at shutdown", "writes", a.db.WriteBacklog(), "error", err)
	}
	return a.db.Close()
}

func (c serveCmd) Run(parent context.Context, e env) error {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tuneGC(e.getenv)
	log := newLogger(e, c.LogLevel, c.LogFormat)
	a, err := openApp(ctx, c, e, log)
	if err != nil {
		return err
	}
	serveErr := a.serve(ctx)
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	if err := a.stop(c.ShutdownTimeout); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	log.Info("stopped")
	return serveErr
}

// every runs fn each period until ctx ends, logging what fails.
func every(ctx context.Context, period time.Duration, log *slog.Logger, what string, fn func(context.Context) error) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.Warn(what, "error", err)
			}
		}
	}
}
