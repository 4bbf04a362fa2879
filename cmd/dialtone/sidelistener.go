package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// sideListener is an HTTP listener beside the API's (metrics, profiles).
// A nil one serves nothing.
type sideListener struct {
	what string
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
}

func newSideListener(what string, ln net.Listener, h http.Handler, log *slog.Logger) *sideListener {
	return &sideListener{what: what, ln: ln, log: log, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
}

// serve runs the listener until close.
func (s *sideListener) serve() {
	if s == nil {
		return
	}
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(s.what+" listener stopped", "error", err)
		}
	}()
	s.log.Info(s.what+" listening", "addr", s.ln.Addr().String())
}

// close stops the listener.
func (s *sideListener) close(ctx context.Context) {
	if s == nil {
		return
	}
	_ = s.srv.Shutdown(ctx)
	_ = s.ln.Close() // when it never served
}
