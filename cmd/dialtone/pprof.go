package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// profiling serves Go's profiles (net/http/pprof) on a listener of its own,
// only when --pprof asks for one, and only on loopback: profiles show
// memory contents and cost CPU, so they are never on the API's listener.
type profiling struct {
	side *sideListener // nil without --pprof
}

func openProfiling(addr string, log *slog.Logger) (*profiling, error) {
	p := &profiling{}
	if addr == "" {
		return p, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %q: want HOST:PORT, such as 127.0.0.1:6060", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof %q: profiles are served on a loopback address only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for profiles on %s: %w", addr, errors.Unwrap(err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p.side = newSideListener("profiles", ln, mux, log)
	return p, nil
}

// serve runs the profile listener, if any, until close.
func (p *profiling) serve() { p.side.serve() }

// close stops the profile listener.
func (p *profiling) close(ctx context.Context) { p.side.close(ctx) }
