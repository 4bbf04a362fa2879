package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

func openQueueTest(t testing.TB, cfg Config) (*DB, string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	db, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, cfg.DataDir
}

// holdWriteLock takes the database's write lock from another connection,
// as another process would; release gives it back.
func holdWriteLock(t testing.TB, dir string) (release func()) {
	t.Helper()
	other, err := sqlx.Open("sqlite3", "file:"+filepath.Join(dir, FileName)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			other.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func testRecord(i int) *call.Record {
	return &call.Record{ID: call.NewID(), SIPCallID: fmt.Sprintf("c%d@test", i), Direction: call.Internal,
		FromNumber: "1001", ToNumber: "1002", StartedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

func callEvent(t core.EventType, r *call.Record) core.Event {
	return core.NewEvent(t, time.Now(), "call:"+string(r.ID), nil, call.EventData{CallID: string(r.ID)})
}

// queueCall queues a whole call: record, events in their order, final record.
func queueCall(t testing.TB, db *DB, r *call.Record) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Error(err)
		}
	}
	must(db.QueueCallRecordCreate(r))
	must(db.QueueEvents(callEvent(core.EventCallCreated, r)))
	must(db.QueueEvents(callEvent(core.EventCallRinging, r)))
	now := time.Now().UTC().Truncate(time.Microsecond)
	r.AnsweredAt = &now
	must(db.QueueEvents(callEvent(core.EventCallAnswered, r)))
	r.EndedAt, r.Disposition, r.HangupCause, r.HangupBy = &now, call.Answered, call.CauseNormal, call.ByCaller
	must(db.QueueCallRecordFinish(r))
	must(db.QueueEvents(callEvent(core.EventCallEnded, r)))
}

// checkCalls: every call has its record, finished, and its four events in
// order.
func checkCalls(t *testing.T, db *DB, recs []*call.Record) {
	t.Helper()
	ctx := context.Background()
	evs, err := db.EventsAfter(ctx, 0, EventFilter{}, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	byCall := map[string][]core.EventType{}
	for _, e := range evs {
		byCall[e.OrderKey] = append(byCall[e.OrderKey], e.Type)
	}
	want := fmt.Sprint([]core.EventType{core.EventCallCreated, core.EventCallRinging, core.EventCallAnswered, core.EventCallEnded})
	for _, r := range recs {
		if got := fmt.Sprint(byCall["call:"+string(r.ID)]); got != want {
			t.Fatalf("call %s: events %s, want %s", r.ID, got, want)
		}
		got, err := db.GetCallRecord(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.EndedAt == nil || got.Disposition != call.Answered || got.AnsweredAt == nil {
			t.Fatalf("call %s: record %+v", r.ID, got)
		}
	}
}

// TestWriteQueueOrder: what is queued for a call commits in queue order, the
// record before its events, whatever other calls queue meanwhile; events
// get deliveries for the webhooks that take them.
func TestWriteQueueOrder(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	now := time.Now().UTC()
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example/hook",
		EventTypes: []string{"call.answered"}, Enabled: true, Secret: "s3cret", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	recs := make([]*call.Record, 200)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = testRecord(i)
		wg.Add(1)
		go func() { defer wg.Done(); queueCall(t, db, recs[i]) }()
	}
	wg.Wait()
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := db.WriteBacklog(); n != 0 {
		t.Fatalf("backlog %d after flush", n)
	}
	checkCalls(t, db, recs)
	page, err := db.ListDeliveries(ctx, hook.ID, core.PageRequest{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(recs) {
		t.Fatalf("%d deliveries for %d call.answered", len(page.Items), len(recs))
	}
}

// TestWriteQueueNoLoss: 10,000 events queued by 50 goroutines are all
// committed, each goroutine's in its order.
func TestWriteQueueNoLoss(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	const writers, each = 50, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := core.NewEvent(core.EventCallRinging, time.Now(), fmt.Sprintf("w%d", w), nil, map[string]int{"i": i})
				if err := db.QueueEvents(ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := db.EventsAfter(ctx, 0, EventFilter{}, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != writers*each {
		t.Fatalf("%d events committed, %d queued", len(evs), writers*each)
	}
	next := map[string]int{}
	for _, e := range evs {
		want := fmt.Sprintf(`{"i":%d}`, next[e.OrderKey])
		if string(e.Data) != want {
			t.Fatalf("%s: event %s, want %s", e.OrderKey, e.Data, want)
		}
		next[e.OrderKey]++
	}
}

// TestWriteQueueRetriesBusy: while another connection holds the write lock
// for longer than the busy timeout, queued writes wait and are retried, the
// backlog counts them and new work is refused past the limit; once the lock
// is released every write commits.
func TestWriteQueueRetriesBusy(t *testing.T) {
	ctx := context.Background()
	const limit = 30
	db, dir := openQueueTest(t, Config{MaxWriteBacklog: limit, BusyTimeout: 20 * time.Millisecond})
	release := holdWriteLock(t, dir)
	recs := make([]*call.Record, 10)
	for i := range recs {
		recs[i] = testRecord(i)
		queueCall(t, db, recs[i])
	}
	if n := db.WriteBacklog(); n != 6*len(recs) {
		t.Fatalf("backlog %d, want %d", n, 6*len(recs))
	}
	if !db.WriteOverloaded() || db.AdmitWrites() || db.AdmitWrites() {
		t.Fatal("new work admitted past the backlog limit")
	}
	time.Sleep(300 * time.Millisecond) // several busy timeouts
	st := db.WriteStats()
	if st.Retries == 0 || st.Shed != 2 || st.Refused != 0 || st.Backlog != 6*len(recs) {
		t.Fatalf("stats while locked: %+v", st)
	}
	// A synchronous write waits its turn behind the queued ones.
	late := testRecord(99)
	done := make(chan error, 1)
	go func() { done <- db.CreateCallRecord(ctx, late) }()
	select {
	case err := <-done:
		t.Fatalf("create committed under another connection's lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := db.WriteBacklog(); n != 0 {
		t.Fatalf("backlog %d once the create committed", n)
	}
	if db.WriteOverloaded() || !db.AdmitWrites() {
		t.Fatal("new work refused with an empty backlog")
	}
	checkCalls(t, db, recs)
}

// TestWriteQueueReadsSeeQueuedWrites: a record read right after its call
// finds what was queued, even while commits are held up.
func TestWriteQueueReadsSeeQueuedWrites(t *testing.T) {
	ctx := context.Background()
	db, dir := openQueueTest(t, Config{BusyTimeout: 20 * time.Millisecond})
	release := holdWriteLock(t, dir)
	r := testRecord(1)
	queueCall(t, db, r)
	go func() { time.Sleep(200 * time.Millisecond); release() }()
	got, err := db.GetCallRecord(ctx, r.ID)
	if err != nil || got.EndedAt == nil {
		t.Fatalf("record %+v, %v", got, err)
	}
	page, err := db.ListCallRecords(ctx, call.Filter{}, core.PageRequest{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("list %+v, %v", page, err)
	}
}

// TestWriteQueueIsolatesBadWrite: a write that can never commit fails alone;
// the writes around it in the same batch commit.
func TestWriteQueueIsolatesBadWrite(t *testing.T) {
	ctx := context.Background()
	db, dir := openQueueTest(t, Config{BusyTimeout: 20 * time.Millisecond})
	dup := testRecord(0)
	if err := db.CreateCallRecord(ctx, dup); err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, dir) // so the next writes share a batch
	before, after := testRecord(1), testRecord(2)
	queueCall(t, db, before)
	if err := db.QueueCallRecordCreate(dup); err != nil { // a duplicate id
		t.Fatal(err)
	}
	missing := testRecord(3)
	if err := db.QueueCallRecordFinish(missing); err != nil { // never created
		t.Fatal(err)
	}
	queueCall(t, db, after)
	done := make(chan error, 1)
	go func() { done <- db.CreateCallRecord(ctx, dup) }()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-done; err == nil {
		t.Fatal("a duplicate record was created")
	}
	if err := db.FinishCallRecord(ctx, missing); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("finish of a missing record: %v", err)
	}
	checkCalls(t, db, []*call.Record{before, after})
	if st := db.WriteStats(); st.Refused != 2 || st.Backlog != 0 {
		t.Fatalf("stats %+v, want 2 refused", st)
	}
}

// TestWriteQueueCloseDrains: Close commits everything queued, then refuses.
func TestWriteQueueCloseDrains(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*call.Record, 1000)
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(recs); i += 10 {
				recs[i] = testRecord(i)
				queueCall(t, db, recs[i])
			}
		}()
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueueEvents(core.NewEvent(core.EventCallCreated, time.Now(), "", nil, nil)); !errors.Is(err, errClosed) {
		t.Fatalf("queue on a closed store: %v", err)
	}
	if err := db.CreateCallRecord(ctx, testRecord(0)); !errors.Is(err, errClosed) {
		t.Fatalf("create on a closed store: %v", err)
	}
	db, err = Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkCalls(t, db, recs)
}

// BenchmarkQueueEvents: queueing a call event and committing it, as calls
// do (the commit of the last batch included).
func BenchmarkQueueEvents(b *testing.B) {
	db, _ := openQueueTest(b, Config{})
	r := testRecord(0)
	ev := callEvent(core.EventCallRinging, r)
	b.ReportAllocs()
	b.ResetTimer()
	var queueing time.Duration
	for range b.N {
		ev.ID = core.NewOrderedID(core.PrefixEvent)
		start := time.Now()
		if err := db.QueueEvents(ev); err != nil {
			b.Fatal(err)
		}
		queueing += time.Since(start)
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	// What a call waits for: queueing, not the commit.
	b.ReportMetric(float64(queueing.Nanoseconds())/float64(b.N), "queue-ns/op")
}

// BenchmarkQueueCall: a whole call's writes (record, four events, final
// record), queued from 50 goroutines.
func BenchmarkQueueCall(b *testing.B) {
	db, _ := openQueueTest(b, Config{})
	b.SetParallelism(25)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			queueCall(b, db, testRecord(0))
		}
	})
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendEvents: waiting for each event's commit, as every call
// event did before the queue, from 50 goroutines.
func BenchmarkAppendEvents(b *testing.B) {
	db, _ := openQueueTest(b, Config{})
	r := testRecord(0)
	b.SetParallelism(25)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.AppendEvents(context.Background(), callEvent(core.EventCallRinging, r)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestWriteQueueFollowsWebhookChanges: the webhooks a batch of events fans
// out to are cached between webhook writes, so each change counts for the
// events queued after it: created, disabled by update, enabled again,
// deleted.
func TestWriteQueueFollowsWebhookChanges(t *testing.T) {
	ctx := context.Background()
	db, _ := openQueueTest(t, Config{})
	now := time.Now().UTC()
	answered := func() {
		t.Helper()
		if err := db.QueueEvents(callEvent(core.EventCallAnswered, testRecord(0))); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example/hook",
		EventTypes: []string{"call.answered"}, Enabled: true, Secret: "s3cret", Version: 1, CreatedAt: now, UpdatedAt: now}
	deliveries := func() int {
		t.Helper()
		page, err := db.ListDeliveries(ctx, hook.ID, core.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	answered() // fills the cache: no webhooks
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func() error
		want   int
	}{
		{"created", func() error { return nil }, 1},
		{"disabled", func() error {
			hook.Enabled = false
			return db.UpdateWebhook(ctx, hook, hook.Version)
		}, 1},
		{"enabled again", func() error {
			hook.Enabled = true
			return db.UpdateWebhook(ctx, hook, hook.Version)
		}, 2},
		{"other types", func() error {
			hook.EventTypes = []string{"call.ended"}
			return db.UpdateWebhook(ctx, hook, hook.Version)
		}, 2},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		answered()
		if got := deliveries(); got != s.want {
			t.Fatalf("%s: %d deliveries, want %d", s.name, got, s.want)
		}
	}
	hook.EventTypes = []string{"call.answered"}
	if err := db.UpdateWebhook(ctx, hook, hook.Version); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	answered() // must not fan out to the deleted webhook (a foreign key would fail the batch)
	var n int
	if err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM events`); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("%d events stored, want 6", n)
	}
}
