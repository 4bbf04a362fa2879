package sip

import (
	"context"
	"testing"
	"time"
)

// serveRestored restores s from st, serves it, and returns the function
// that shuts it down, to be deferred before the store is closed.
func serveRestored(t *testing.T, s *Server, st StateStore) (shutdown func()) {
	t.Helper()
	ctx := context.Background()
	if err := s.Restore(ctx, st); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s.Serve(sctx)
	return func() {
		cancel()
		stop, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		s.Shutdown(stop)
	}
}
