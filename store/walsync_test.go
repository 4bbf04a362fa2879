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
// waiters get the error, and so do those of every batch after, since a
// later flush cannot vouch for what the failed one lost; what was
// committed stays readable.
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
	if err := db.CreateCallRecord(ctx, testRecord(2)); !errors.Is(err, broken) {
		t.Fatalf("a later batch: %v, want %v", err, broken)
	}
	if err := db.QueueCallRecordCreate(testRecord(3)); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); !errors.Is(err, broken) {
		t.Fatalf("Flush: %v, want %v", err, broken)
	}
}

// TestEventsHeldUntilFlushed: events committed but not yet flushed are
// readable by nobody who passes them on (the event stream, the webhook
// dispatcher), while the call records committed with them are; once
// flushed, they are.
func TestEventsHeldUntilFlushed(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	now := time.Now().UTC()
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example/hook",
		EventTypes: []string{"call.*"}, Enabled: true, Secret: "s3cret", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	// A first call, flushed: always readable.
	early := testRecord(0)
	if err := db.QueueEvents(callEvent(core.EventCallCreated, early)); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts := func(ctx context.Context) (events, due int) {
		t.Helper()
		evs, err := db.EventsAfter(ctx, 0, EventFilter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := db.DueDeliveries(ctx, time.Now().Add(time.Minute), 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs), len(ds)
	}
	if e, d := counts(ctx); e != 1 || d != 1 {
		t.Fatalf("flushed: %d events, %d deliveries due; want 1, 1", e, d)
	}

	entered, release := stallSync(db, nil)
	defer release()
	r := testRecord(1)
	if err := db.QueueCallRecordCreate(r); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []core.EventType{core.EventCallCreated, core.EventCallRinging} {
		if err := db.QueueEvents(callEvent(typ, r)); err != nil {
			t.Fatal(err)
		}
	}
	awaitFlushStart(t, entered)
	if _, err := db.GetCallRecord(ctx, r.ID); err != nil {
		t.Fatalf("the record committed with the events: %v", err)
	}
	due, err := db.DueDeliveries(ctx, time.Now().Add(time.Minute), 100, nil)
	if err != nil || len(due) != 1 {
		t.Fatalf("while flushing: %d deliveries due (%v), want the flushed one", len(due), err)
	}
	// A read of events waits for the flush of what was queued before it.
	read := make(chan int, 1)
	go func() {
		evs, err := db.EventsAfter(ctx, 0, EventFilter{}, 100)
		if err != nil {
			t.Error(err)
		}
		read <- len(evs)
	}()
	select {
	case n := <-read:
		t.Fatalf("events read (%d) while their batch was being flushed", n)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if n := <-read; n != 3 {
		t.Fatalf("once flushed: %d events, want 3", n)
	}
	// The call's second delivery waits behind its first, in order.
	if e, d := counts(ctx); e != 3 || d != 2 {
		t.Fatalf("once flushed: %d events, %d deliveries due; want 3, 2", e, d)
	}
}

// TestBatchSynchronousMode: a batch commits with synchronous=NORMAL (its
// flush is the queue's) and without checkpointing (the checkpointer's), and
// the write connection is back at FULL, checkpointing, for every other
// write by the time the batch is flushed.
func TestBatchSynchronousMode(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	const normal, full = 1, 2

	tx, end, err := db.beginBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mode, pages int
	if err := tx.GetContext(ctx, &mode, `PRAGMA synchronous`); err != nil || mode != normal {
		t.Fatalf("in a batch: synchronous %d, %v; want %d", mode, err, normal)
	}
	if err := tx.GetContext(ctx, &pages, `PRAGMA wal_autocheckpoint`); err != nil || pages != 0 {
		t.Fatalf("in a batch: wal_autocheckpoint %d, %v; want 0", pages, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	end()
	if err := db.w.GetContext(ctx, &pages, `PRAGMA wal_autocheckpoint`); err != nil || pages != autoCheckpointPages {
		t.Fatalf("write connection after a batch: wal_autocheckpoint %d, %v; want %d", pages, err, autoCheckpointPages)
	}

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
	odd := filepath.Join(t.TempDir(), "odd.db")
	if err := os.Mkdir(odd+"-wal", 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"the open database's log", filepath.Join(dir, FileName), true},
		{"a database whose log was checkpointed away", plain, true},
		{"a log that cannot be written", odd, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := syncWAL(tc.path); (err == nil) != tc.ok {
				t.Fatalf("syncWAL(%s): %v, want ok %v", tc.path, err, tc.ok)
			}
		})
	}
}
