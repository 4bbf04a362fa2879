package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

type serveCmd struct {
	HTTP            string        `name:"http" env:"DIALTONE_HTTP" default:"127.0.0.1:8080" help:"Address of the REST API."`
	Data            string        `name:"data" env:"DIALTONE_DATA" default:"./data" help:"Data directory (database, keys, recordings)."`
	LogLevel        string        `name:"log-level" env:"DIALTONE_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Least severe level logged (debug, info, warn, error)."`
	LogFormat       string        `name:"log-format" env:"DIALTONE_LOG_FORMAT" default:"text" enum:"text,json" help:"Log line format (text, json)."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"DIALTONE_SHUTDOWN_TIMEOUT" default:"10s" help:"How long in-flight requests may run on after SIGINT/SIGTERM."`
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
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

func (c serveCmd) Run(parent context.Context, e env) error {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := newLogger(e, c.LogLevel, c.LogFormat)

	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return fmt.Errorf("listen for http on %s: %w", c.HTTP, errors.Unwrap(err))
	}
	defer ln.Close()
	db, err := store.Open(ctx, store.Config{DataDir: c.Data})
	if err != nil {
		return err
	}
	defer db.Close()

	exts := &core.Extensions{Repo: db}
	keys := &core.APIKeys{Repo: db, Extensions: db}
	configured := strings.TrimSpace(e.getenv("DIALTONE_ADMIN_KEY"))
	secret, created, err := keys.Bootstrap(ctx, configured)
	if err != nil {
		return fmt.Errorf("create the first admin key: %w", err)
	}
	switch {
	case created && configured == "":
		fmt.Fprintf(e.stderr, "\nAdmin API key (shown once, keep it safe):\n\n    %s\n\n", secret.Reveal())
	case created:
		log.Info("admin api key created from DIALTONE_ADMIN_KEY")
	}

	srv := &http.Server{
		Handler: api.New(api.Deps{
			Extensions: exts, APIKeys: keys, Idempotency: db, DB: db,
			Logger: log.With("component", "api"),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	go purgeIdempotencyKeys(ctx, db, log)
	log.Info("dialtone serving", "http", ln.Addr().String(), "data", c.Data, "version", buildVersion())

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests cut off at shutdown", "error", err)
		_ = srv.Close()
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	log.Info("stopped")
	return nil
}

func purgeIdempotencyKeys(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := db.PurgeIdempotencyKeys(ctx, time.Now().Add(-api.IdempotencyTTL)); err != nil && ctx.Err() == nil {
				log.Warn("purge idempotency keys", "error", err)
			}
		}
	}
}
