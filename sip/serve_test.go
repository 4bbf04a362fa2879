package sip

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/store"
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

// openStore opens a store in a directory of the test's own, closed when the
// test ends.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
