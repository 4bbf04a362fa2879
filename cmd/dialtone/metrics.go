package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/dialtone-pbx/dialtone/api"
	"github.com/dialtone-pbx/dialtone/metrics"
	dsip "github.com/dialtone-pbx/dialtone/sip"
	"github.com/dialtone-pbx/dialtone/store"
	"github.com/dialtone-pbx/dialtone/webhook"
)

// monitoring is the Prometheus side of the PBX: the metrics, fed by the SIP
// front, the dispatcher and the API, and the separate --metrics listener.
type monitoring struct {
	m    *metrics.Metrics
	log  *slog.Logger
	side *sideListener // nil without --metrics
}

// openMonitoring builds the metrics, has the B2BUA and the dispatcher report
// to them, binds the --metrics listener when asked, and returns what the API
// serves: /metrics without a key only when the API itself listens on
// loopback; with a key (admin) otherwise.
func openMonitoring(addr string, apiLn net.Listener, sipSrv *dsip.Server, dispatcher *webhook.Dispatcher, db *store.DB,
	log *slog.Logger) (*monitoring, api.MetricsConfig, error) {
	m := metrics.New(metrics.Sources{SIP: sipSrv, Outbox: db, Writes: db, Log: log})
	sipSrv.B2BUA.SetObserver(m)
	dispatcher.Observer = m
	mon := &monitoring{m: m, log: log}
	cfg := api.MetricsConfig{Handler: m.Handler(), Open: isLoopback(apiLn.Addr()), Requests: m}
	if addr == "" {
		return mon, cfg, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, cfg, fmt.Errorf("--metrics %q: want HOST:PORT, such as 127.0.0.1:9090", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, cfg, fmt.Errorf("listen for metrics on %s: %w", addr, errors.Unwrap(err))
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+api.MetricsPath, m.Handler())
	mon.side = newSideListener("metrics", ln, mux, log)
	return mon, cfg, nil
}

// isLoopback reports whether a listener's address is a loopback one.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// serve runs the --metrics listener, if any, until close.
func (m *monitoring) serve() { m.side.serve() }

// close stops the --metrics listener.
func (m *monitoring) close(ctx context.Context) { m.side.close(ctx) }
