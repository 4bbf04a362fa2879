package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// stallSync makes the queue's flushes wait for release: entered receives
// once per flush as it starts. It returns the error fail holds then.
func stallSync(db *DB, fail error) (entered chan struct{}, release func()) {
	entered = make(chan struct{}, 16)
	gate := make(chan struct{})
	real := db.wq.sync
	db.wq.sync = func() error {
		entered <- struct{}{}
		<-gate
		if fail != nil {
			return fail
		}
		return real()
	}
	var once sync.Once
	return entered, func() { once.Do(func() { close(gate) }) }
}

func awaitFlushStart(t *testing.T, entered chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was never flushed")
	}
}

// TestBatchVisibleBeforeDurable: a read sees a committed batch while the
// log is still being flushed, batches queued meanwhile commit and are seen
// too, and whoever waits for a commit (a write, Flush) learns of it only
// once a flush that covers it is done.
func TestBatchVisibleBeforeDurable(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	entered, release := stallSync(db, nil)
	defer release()

	first, second := testRecord(1), testRecord(2)
	created := make(chan error, 2)
	go func() { created <- db.CreateCallRecord(ctx, first) }()
	awaitFlushStart(t, entered)
	// The first flush is stalled: the next batch commits all the same.
	if err := db.QueueCallRecordCreate(second); err != nil {
		t.Fatal(err)
	}
	go func() { created <- db.CreateCallRecord(ctx, testRecord(3)) }()

	// A read must not wait for the flush.
	rctx, cancel := context.WithTimeout(ctx, readWait/2)
	defer cancel()
	page, err := db.ListCallRecords(rctx, call.Filter{}, core.PageRequest{})
	if err != nil || len(page.Items) < 2 {
		t.Fatalf("list while flushing: %+v, %v", page, err)
	}
	for _, r := range []*call.Record{first, second} {
		if got, err := db.GetCallRecord(rctx, r.ID); err != nil || got.ID != r.ID {
			t.Fatalf("get while flushing: %+v, %v", got, err)
		}
	}
	flushed := make(chan error, 1)
	go func() { flushed <- db.Flush(ctx) }()
	if err := db.Flush(rctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the log is being flushed: %v, want it to wait", err)
	}
	select {
	case err := <-created:
		t.Fatalf("a create returned (%v) before its batch was flushed", err)
	case err := <-flushed:
		t.Fatalf("Flush returned (%v) before the batch was flushed", err)
	default:
	}

	release()
	for _, ch := range []chan error{created, created, flushed} {
		select {
		case err := <-ch:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a write or Flush never returned")
		}
	}
	if page, err := db.ListCallRecords(ctx, call.Filter{}, core.PageRequest{}); err != nil || len(page.Items) != 3 {
		t.Fatalf("list once flushed: %+v, %v", page, err)
	}
}

// TestBatchFlushFailure: when the log cannot be flushed, the batch's
// waiters get the error; the batch stays committed and later ones go on.
func TestBatchFlushFailure(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	broken := errors.New("disk gone")
	entered, release := stallSync(db, broken)
	release()

	r := testRecord(1)
	if err := db.CreateCallRecord(ctx, r); !errors.Is(err, broken) {
		t.Fatalf("create: %v, want %v", err, broken)
	}
	<-entered
	if _, err := db.GetCallRecord(ctx, r.ID); err != nil {
		t.Fatalf("the committed record: %v", err)
	}
	db.wq.sync = func() error { return syncWAL(db.path) }
	if err := db.CreateCallRecord(ctx, testRecord(2)); err != nil {
		t.Fatalf("the next batch: %v", err)
	}
}

// TestBatchSynchronousMode: a batch commits with synchronous=NORMAL (its
// flush is the queue's), and the write connection is back at FULL for every
// other write by the time the batch is flushed.
func TestBatchSynchronousMode(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	const normal, full = 1, 2

	tx, end, err := db.beginBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := tx.GetContext(ctx, &mode, `PRAGMA synchronous`); err != nil || mode != normal {
		t.Fatalf("in a batch: synchronous %d, %v; want %d", mode, err, normal)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	end()

	modes := make(chan int, 4)
	real := db.wq.sync
	db.wq.sync = func() error {
		var m int
		if err := db.w.GetContext(ctx, &m, `PRAGMA synchronous`); err != nil {
			return err
		}
		modes <- m
		return real()
	}
	if err := db.CreateCallRecord(ctx, testRecord(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-modes:
		if m != full {
			t.Fatalf("write connection after a batch: synchronous %d, want %d", m, full)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was never flushed")
	}
	if err := db.w.GetContext(ctx, &mode, `PRAGMA synchronous`); err != nil || mode != full {
		t.Fatalf("write connection: synchronous %d, %v; want %d", mode, err, full)
	}
}

func TestSyncWAL(t *testing.T) {
	db, dir := openQueueTest(t, Config{})
	if err := db.CreateCallRecord(context.Background(), testRecord(1)); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "plain.db")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"the open database's log", filepath.Join(dir, FileName), true},
		{"a database without a log", plain, false},
		{"no database", filepath.Join(t.TempDir(), "missing.db"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := syncWAL(tc.path); (err == nil) != tc.ok {
				t.Fatalf("syncWAL(%s): %v, want ok %v", tc.path, err, tc.ok)
			}
		})
	}
}
