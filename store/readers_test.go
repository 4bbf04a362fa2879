package store

import (
	"context"
	"sync"
	"testing"

	"github.com/dialtone-pbx/dialtone/core"
)

// Reads from many requests at once reuse the pool's connections: none is
// closed on release and opened again for the next read.
func TestReadersStayOpen(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := db.ListExtensions(ctx, core.ExtensionFilter{}, core.PageRequest{Limit: 10}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := db.r.Stats()
	if st.MaxIdleClosed != 0 || st.MaxIdleTimeClosed != 0 || st.MaxLifetimeClosed != 0 {
		t.Fatalf("readers closed after use: %+v", st)
	}
	if st.OpenConnections > st.MaxOpenConnections || st.OpenConnections < 2 {
		t.Fatalf("open readers %d (at most %d)", st.OpenConnections, st.MaxOpenConnections)
	}
}
