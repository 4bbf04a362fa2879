package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// TestCheckpointAfterBatches: batches wake the checkpointer, a slow
// checkpoint holds up no write, and the checkpoint copies what the batches
// committed into the database file itself.
func TestCheckpointAfterBatches(t *testing.T) {
	ctx := context.Background()
	db, dir := openQueueTest(t, Config{})
	entered, ran := make(chan struct{}, 8), make(chan error, 8)
	gate := make(chan struct{})
	real := db.ckpt.run
	db.ckpt.run = func(ctx context.Context) error {
		entered <- struct{}{}
		<-gate
		err := real(ctx)
		ran <- err
		return err
	}
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()

	const records = 4
	if err := db.CreateCallRecord(ctx, testRecord(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("a batch's write never woke the checkpointer")
	}
	// The checkpoint is stalled: writes go on.
	for i := 1; i < records; i++ {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := db.CreateCallRecord(wctx, testRecord(i))
		cancel()
		if err != nil {
			t.Fatalf("write %d while a checkpoint runs: %v", i, err)
		}
	}
	close(gate)
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpoint never ended")
	}
	if n := countInFileAlone(t, filepath.Join(dir, FileName)); n != records {
		t.Fatalf("the database file without its log holds %d call records, want %d", n, records)
	}
}

// countInFileAlone counts the call records in a copy of the database file
// made without its write-ahead log: those checkpointed into it.
func countInFileAlone(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "alone.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	alone, err := sqlx.Open("sqlite3", "file:"+cp)
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	var n int
	if err := alone.Get(&n, `SELECT count(*) FROM call_records`); err != nil {
		t.Fatal(err)
	}
	return n
}
