package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

// Runtime writes (call records and call events) go through one ordered
// queue. Callers enqueue and return, or wait for the commit; one goroutine
// commits what is queued in batches, one transaction (one fsync) per batch,
// with statements prepared once. A batch that fails is retried with backoff,
// never dropped, so a slow disk slows intake (see WriteOverloaded) instead
// of losing what calls already did.

const (
	// maxBatch is the most requests committed in one transaction.
	maxBatch = 256
	// closeDrainTimeout bounds the retries of queued writes once Close has
	// begun; what still fails then is reported by Close.
	closeDrainTimeout = 30 * time.Second
	retryFirst        = 10 * time.Millisecond
	retryMax          = time.Second
	// readWait bounds how long a read waits for queued writes to commit.
	readWait = 2 * time.Second
	// batchTimeout bounds one attempt at a batch.
	batchTimeout = 30 * time.Second
	// linger is how long a batch nobody waits for stays open for more
	// writes: at a few hundred writes a second it turns a commit (and an
	// fsync) per write or two into one per linger. A waiter (a read that
	// must see the writes, Flush) closes the batch at once.
	linger = 5 * time.Millisecond
	// flushBacklog is how many committed batches may wait for the flusher
	// before the writer waits for it.
	flushBacklog = 1024
)

var errClosed = errors.New("store: closed")

type writeKind uint8

const (
	writeEvents writeKind = iota + 1
	writeRecordCreate
	writeRecordFinish
	writeBarrier // writes nothing: done once everything queued before it is committed
)

type writeReq struct {
	seq    uint64 // position in the queue, from 1
	kind   writeKind
	events []core.Event
	rec    callRecordRow
	done   chan error // nil when nobody waits for the commit
}

type writeQueue struct {
	reqs chan *writeReq
	// mu is held shared while a request is queued and exclusively to close,
	// so nothing is queued after the writer has drained the channel.
	mu     sync.RWMutex
	closed bool
	quit   chan struct{}
	done   chan struct{}

	closing atomic.Bool  // Close has begun: retries stop at drainBy
	drainBy atomic.Int64 // unix nanoseconds
	backlog atomic.Int64 // queued writes not yet committed (barriers excluded)
	limit   int
	retries atomic.Int64 // failed batch attempts that were retried
	refused atomic.Int64 // queued writes that failed for good
	shed    atomic.Int64 // new work refused by AdmitWrites
	shedLog atomic.Int64 // unix nanoseconds of the last refusal logged
	log     *slog.Logger

	// sendMu orders the sends into reqs with their sequence numbers;
	// queued is the number of the last request sent, committed that of the
	// last one the writer is done with. A read waits on commits (closed and
	// replaced at each) until committed reaches what was queued before it,
	// and hurry cuts the writer's linger short meanwhile.
	sendMu    sync.Mutex
	queued    atomic.Uint64
	committed atomic.Uint64
	commits   atomic.Pointer[chan struct{}]
	hurry     chan struct{}

	// hooks caches the enabled webhooks between webhook writes
	// (hooksChanged), so a batch of events does not query them.
	hooksGen atomic.Uint64
	hooks    atomic.Pointer[cachedHooks]

	// sync makes the committed batches durable (syncWAL); flushes takes
	// the writer's committed batches to the flusher, which calls it.
	sync    func() error
	flushes chan committed
	// held is, in commit order, the first event sequence of every batch
	// whose events are committed but not yet flushed (holdEvents).
	heldMu sync.Mutex
	held   []int64
	// flushed is the number of the last request the flusher is done
	// with; flushSignal is closed and replaced each time it moves.
	flushed     atomic.Uint64
	flushSignal atomic.Pointer[chan struct{}]

	// Writer goroutine only.
	stmts    writeStmts
	errs     []error
	lastWarn time.Time
}

func (db *DB) startWriteQueue(cfg Config, checkpoints *sqlx.DB) {
	limit := cfg.MaxWriteBacklog
	if limit == 0 {
		limit = DefaultMaxWriteBacklog
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db.wq = &writeQueue{
		reqs: make(chan *writeReq, max(4*limit, 4096)), quit: make(chan struct{}), done: make(chan struct{}),
		limit: limit, log: log, errs: make([]error, maxBatch), hurry: make(chan struct{}, 1),
	}
	commits := make(chan struct{})
	db.wq.commits.Store(&commits)
	db.wq.sync = func() error { return syncWAL(db.path) }
	db.wq.flushes = make(chan committed, flushBacklog)
	flushSignal := make(chan struct{})
	db.wq.flushSignal.Store(&flushSignal)
	db.ckpt = newCheckpointer(checkpoints, log)
	go db.ckpt.loop()
	go db.runWriteQueue()
}

// WriteBacklog is the number of queued runtime writes not yet committed.
func (db *DB) WriteBacklog() int { return int(db.wq.backlog.Load()) }

// WriteOverloaded reports whether the write backlog has reached
// Config.MaxWriteBacklog: new calls should be refused until it shrinks.
func (db *DB) WriteOverloaded() bool { return db.wq.backlog.Load() >= int64(db.wq.limit) }

// AdmitWrites reports whether new work that will queue writes, such as a
// new call, may start. While the backlog is at or over MaxWriteBacklog it
// says no, counts the refusal (WriteStats.Shed) and logs a warning at most
// every 5 s; work already started keeps queueing.
func (db *DB) AdmitWrites() bool {
	q := db.wq
	backlog := q.backlog.Load()
	if backlog < int64(q.limit) {
		return true
	}
	shed := q.shed.Add(1)
	now := time.Now().UnixNano()
	if last := q.shedLog.Load(); now-last > int64(5*time.Second) && q.shedLog.CompareAndSwap(last, now) {
		q.log.Warn("write backlog too deep, refusing new calls", "backlog", backlog, "max", q.limit, "refused_total", shed)
	}
	return false
}

// WriteStats are the write queue's counters since Open.
type WriteStats struct {
	Backlog int   // queued, not yet committed
	Retries int64 // batch attempts that failed and were retried
	Refused int64 // queued writes that failed for good (logged)
	Shed    int64 // new work refused by AdmitWrites
}

// WriteStats reads the write queue's counters.
func (db *DB) WriteStats() WriteStats {
	return WriteStats{Backlog: db.WriteBacklog(), Retries: db.wq.retries.Load(), Refused: db.wq.refused.Load(), Shed: db.wq.shed.Load()}
}

// QueueEvents queues events for the outbox and returns without waiting for
// the commit; it blocks only while the queue is full. Events queued for a
// call commit in queue order, after anything queued before them.
func (db *DB) QueueEvents(events ...core.Event) error {
	if len(events) == 0 {
		return nil
	}
	evs := make([]core.Event, len(events))
	copy(evs, events)
	return db.enqueue(context.Background(), &writeReq{kind: writeEvents, events: evs})
}

// QueueCallRecordCreate queues the record of a call that has started and
// returns without waiting for the commit.
func (db *DB) QueueCallRecordCreate(r *call.Record) error {
	return db.enqueue(context.Background(), &writeReq{kind: writeRecordCreate, rec: toCallRecordRow(r)})
}

// QueueCallRecordFinish queues the final state of a call and returns
// without waiting for the commit.
func (db *DB) QueueCallRecordFinish(r *call.Record) error {
	return db.enqueue(context.Background(), &writeReq{kind: writeRecordFinish, rec: toCallRecordRow(r)})
}

// Flush waits until every runtime write queued before it is committed.
func (db *DB) Flush(ctx context.Context) error {
	r := &writeReq{kind: writeBarrier, done: make(chan error, 1)}
	if err := db.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitWrites lets a read see the runtime writes queued before it: until
// the writer is done with them, it waits (at most readWait). Reads queue
// nothing: however many there are, they wait together for the same commits.
func (db *DB) awaitWrites(ctx context.Context) {
	db.wq.await(ctx, &db.wq.committed, &db.wq.commits)
}

// awaitFlushed lets a read of events see the events queued before it,
// which are held from readers until flushed (holdEvents): it waits, at most
// readWait, until the flusher is done with them.
func (db *DB) awaitFlushed(ctx context.Context) {
	db.wq.await(ctx, &db.wq.flushed, &db.wq.flushSignal)
}

// await waits until done reaches the last request queued, woken by the
// channel in signal, which is closed and replaced each time done moves.
func (q *writeQueue) await(ctx context.Context, done *atomic.Uint64, signal *atomic.Pointer[chan struct{}]) {
	target := q.queued.Load()
	if done.Load() >= target {
		return
	}
	select {
	case q.hurry <- struct{}{}:
	default:
	}
	t := time.NewTimer(readWait)
	defer t.Stop()
	for {
		ch := *signal.Load()
		if done.Load() >= target {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// markCommitted records that the writer is done with everything up to and
// including batch and wakes the reads waiting for it.
func (q *writeQueue) markCommitted(batch []*writeReq) {
	q.committed.Store(batch[len(batch)-1].seq)
	next := make(chan struct{})
	close(*q.commits.Swap(&next))
}

// write queues r and waits for its commit.
func (db *DB) write(ctx context.Context, r *writeReq) error {
	r.done = make(chan error, 1)
	if err := db.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) enqueue(ctx context.Context, r *writeReq) error {
	q := db.wq
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errClosed
	}
	counted := r.kind != writeBarrier
	if counted {
		q.backlog.Add(1)
	}
	q.sendMu.Lock()
	defer q.sendMu.Unlock()
	r.seq = q.queued.Load() + 1
	select {
	case q.reqs <- r:
		q.queued.Store(r.seq)
		return nil
	case <-ctx.Done():
		if counted {
			q.backlog.Add(-1)
		}
		return ctx.Err()
	}
}

// close refuses new writes, waits for the queued ones and says how many
// could not be committed.
func (q *writeQueue) close() error {
	q.drainBy.Store(time.Now().Add(closeDrainTimeout).UnixNano())
	q.closing.Store(true)
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	close(q.quit)
	<-q.done
	q.stmts.reset()
	if n := q.refused.Load(); n > 0 {
		return fmt.Errorf("store: %d queued writes failed", n)
	}
	return nil
}

func (db *DB) runWriteQueue() {
	q := db.wq
	flushed := make(chan struct{})
	go db.runFlusher(flushed)
	defer func() {
		close(q.flushes)
		<-flushed
		close(q.done)
	}()
	batch := make([]*writeReq, 0, maxBatch)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	for {
		select {
		case r := <-q.reqs:
			batch = append(batch, r)
		case <-q.quit:
			// Nothing can be queued any more: commit what is left.
			for {
				select {
				case r := <-q.reqs:
					batch = append(batch, r)
					if len(batch) == maxBatch {
						db.commitBatch(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						db.commitBatch(batch)
					}
					return
				}
			}
		}
		waited := batch[0].done != nil
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
				waited = waited || r.done != nil
			default:
				break fill
			}
		}
		if !waited && len(batch) < maxBatch {
			wait.Reset(linger)
		more:
			for len(batch) < maxBatch {
				select {
				case r := <-q.reqs:
					batch = append(batch, r)
					if r.done != nil {
						break more
					}
				case <-wait.C:
					break more
				case <-q.hurry:
					break more // a read waits for these writes
				case <-q.quit:
					break more // the drain above takes what is left next time round
				}
			}
			wait.Stop()
		}
		db.commitBatch(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// commitBatch commits batch in one transaction, retrying transient failures
// with backoff. A write that fails for good (a constraint, a finish without
// its record) is isolated by running the batch again with a savepoint per
// request: the others still commit and it alone gets the error.
func (db *DB) commitBatch(batch []*writeReq) {
	q := db.wq
	errs := q.errs[:len(batch)]
	careful := false
	delay := retryFirst
	var done batchDone
	for attempt := 1; ; attempt++ {
		var err error
		done, err = db.tryBatch(batch, errs, careful)
		if err == nil {
			break
		}
		if !transient(err) {
			if !careful {
				careful = true
				continue
			}
			fillErr(errs, err)
			break
		}
		q.retries.Add(1)
		q.stmts.reset()
		if q.closing.Load() && time.Now().UnixNano() > q.drainBy.Load() {
			fillErr(errs, err)
			break
		}
		if time.Since(q.lastWarn) > 5*time.Second {
			q.lastWarn = time.Now()
			q.log.Warn("queued writes failed, retrying", "attempt", attempt, "writes", len(batch), "backlog", q.backlog.Load(), "error", err)
		}
		time.Sleep(delay)
		delay = min(2*delay, retryMax)
	}
	// The batch is visible: the backlog, the index of recent records and
	// the reads waiting for it learn of the commit now, before any waiter
	// does: whoever Flush or AppendEvents returns to sees it done.
	n := 0
	var finished []string // call records whose finish was written
	for _, r := range batch {
		if r.kind != writeBarrier {
			n++
		}
		if r.kind == writeRecordFinish {
			finished = append(finished, r.rec.ID)
		}
	}
	q.backlog.Add(-int64(n))
	db.recent.apply(batch, errs)
	if finished != nil {
		db.records.finished(finished)
	}
	q.markCommitted(batch)
	// Then durable: the flusher tells the waiters once the log is on the
	// disk, while the writer goes on with the next batch.
	f := committed{last: batch[len(batch)-1].seq, wrote: n > 0, held: done.held, delivered: done.delivered}
	for i, r := range batch {
		if r.done != nil {
			f.waiters = append(f.waiters, waiter{r.done, errs[i]})
		} else if errs[i] != nil {
			q.refused.Add(1)
			q.log.Error("queued write failed", "error", errs[i])
		}
	}
	q.flushes <- f
	clear(errs)
}

// batchDone is what a batch's transaction committed.
type batchDone struct {
	held      bool // events, held from readers until flushed (holdEvents)
	delivered bool // webhook deliveries
}

// committed is what a batch's commit leaves to the flusher.
type committed struct {
	last      uint64 // the number of the batch's last request
	wrote     bool   // the batch wrote something: the log needs a flush
	held      bool   // events were committed, held from readers until flushed
	delivered bool   // webhook deliveries were queued: the dispatcher is woken
	waiters   []waiter
}

type waiter struct {
	done chan error
	err  error // the write's own failure
}

// runFlusher makes committed batches durable in commit order and only then
// answers their waiters and wakes the event subscribers and the webhook
// dispatcher. It flushes once for every batch committed meanwhile, so a
// slow disk delays those who wait for durability, never the writer or the
// reads. It ends once the writer has closed flushes and all is answered.
func (db *DB) runFlusher(flushed chan<- struct{}) {
	q := db.wq
	defer close(flushed)
	var group []committed
	// broken is the first failed flush: what is acknowledged after it
	// cannot be known to be on the disk (see syncBatch).
	var broken error
	for f := range q.flushes {
		group = append(group[:0], f)
	gather:
		for {
			select {
			case f, ok := <-q.flushes:
				if !ok {
					break gather
				}
				group = append(group, f)
			default:
				break gather
			}
		}
		wrote, delivered, held := false, false, 0
		for _, f := range group {
			wrote, delivered = wrote || f.wrote, delivered || f.delivered
			if f.held {
				held++
			}
		}
		if wrote {
			if err := db.syncBatch(); err != nil && broken == nil {
				broken = err
			}
			db.ckpt.poke()
		}
		q.releaseEvents(held)
		q.flushed.Store(group[len(group)-1].last)
		next := make(chan struct{})
		close(*q.flushSignal.Swap(&next))
		if held > 0 {
			db.notifyEvents()
		}
		if delivered {
			db.wakeDeliveries()
		}
		for _, f := range group {
			for _, w := range f.waiters {
				w.done <- cmp.Or(w.err, broken)
			}
		}
		clear(group)
	}
}

// holdEvents keeps the events of a batch about to commit, from its first
// sequence on, out of the readers that pass them on (the event stream, the
// webhook dispatcher) until they are flushed: an event told to the outside
// world must never be lost, nor its sequence given to another event after
// a crash. Events committed since with synchronous=FULL wait behind them.
func (q *writeQueue) holdEvents(first int64) {
	q.heldMu.Lock()
	q.held = append(q.held, first)
	q.heldMu.Unlock()
}

// releaseEvents ends the hold of the n oldest held batches, once flushed.
func (q *writeQueue) releaseEvents(n int) {
	if n == 0 {
		return
	}
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	q.held = q.held[:copy(q.held, q.held[n:])]
}

// unholdEvents drops the newest hold, that of a batch whose commit failed.
func (q *writeQueue) unholdEvents() {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	q.held = q.held[:len(q.held)-1]
}

// eventsBelow is the sequence the events passed on must stay below: the
// first one held, or math.MaxInt64 when none is.
func (q *writeQueue) eventsBelow() int64 {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	if len(q.held) == 0 {
		return math.MaxInt64
	}
	return q.held[0]
}

// syncBatch flushes the write-ahead log once batches committed. A failed
// flush is not tried again: the kernel may have dropped the pages it could
// not write, and a second flush would report success without them. So the
// batches' waiters, and those of every batch after, get the error (the
// store must be reopened); what they wrote is still visible.
func (db *DB) syncBatch() error {
	err := db.wq.sync()
	if err != nil {
		db.wq.log.Error("committed writes may not be on the disk", "error", err)
	}
	return err
}

func fillErr(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}

// tryBatch runs one attempt at committing batch; errs receives each
// request's own failure. With careful, each request runs in a savepoint so
// one that fails for good leaves the others.
func (db *DB) tryBatch(batch []*writeReq, errs []error, careful bool) (batchDone, error) {
	q := db.wq
	var st *writeStmts
	// Prepared before the transaction: the write pool has one connection.
	if q.stmts.prepare(db.w) == nil {
		st = &q.stmts
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tx, end, err := db.beginBatch(ctx)
	if err != nil {
		return batchDone{}, err
	}
	defer end()
	var delivered atomic.Bool
	w := &txWriter{ctx: ctx, tx: tx, st: st, delivered: &delivered}
	var hooks []hook
	loaded := false
	for i, r := range batch {
		errs[i] = nil
		if r.kind == writeBarrier {
			continue
		}
		if r.kind == writeEvents && !loaded {
			if hooks, err = w.cachedHooks(q); err != nil {
				_ = tx.Rollback()
				return batchDone{}, err
			}
			loaded = true
		}
		if careful {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT queued_write`); err != nil {
				_ = tx.Rollback()
				return batchDone{}, err
			}
		}
		err := w.apply(r, hooks)
		switch {
		case err == nil:
		case errors.Is(err, core.ErrNotFound):
			// Nothing was written: the transaction goes on.
			errs[i] = err
		case transient(err) || !careful:
			_ = tx.Rollback()
			return batchDone{}, err
		default:
			errs[i] = err
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO queued_write`); err != nil {
				_ = tx.Rollback()
				return batchDone{}, err
			}
		}
		if careful {
			if _, err := tx.ExecContext(ctx, `RELEASE queued_write`); err != nil {
				_ = tx.Rollback()
				return batchDone{}, err
			}
		}
	}
	// Its events stay out of the readers' sight until flushed (holdEvents),
	// from before the commit makes them visible.
	if w.firstSeq > 0 {
		q.holdEvents(w.firstSeq)
	}
	if err := tx.Commit(); err != nil {
		if w.firstSeq > 0 {
			q.unholdEvents()
		}
		return batchDone{}, err
	}
	return batchDone{held: w.firstSeq > 0, delivered: delivered.Load()}, nil
}

// transient reports whether a failed write may succeed if tried again:
// a lock held elsewhere, a full or failing disk, a lost connection.
func transient(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrNomem, sqlite3.ErrReadonly, sqlite3.ErrInterrupt,
			sqlite3.ErrIoErr, sqlite3.ErrFull, sqlite3.ErrCantOpen, sqlite3.ErrProtocol, sqlite3.ErrSchema, sqlite3.ErrAbort:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone)
}

// The hot statements of the queue, prepared once on the write connection.
type stmtID int

const (
	stmtHooks stmtID = iota
	stmtEvent
	stmtDelivery
	stmtRecordCreate
	stmtRecordFinish
	nStmts
)

var stmtSQL = [nStmts]string{
	stmtHooks: `SELECT id, event_types FROM webhooks WHERE enabled = 1`,
	stmtEvent: `INSERT INTO events (id, type, occurred_at, order_key, extensions, data) VALUES (?, ?, ?, ?, ?, ?)`,
	stmtDelivery: `INSERT INTO webhook_deliveries (id, webhook_id, event_seq, order_key, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, 0, ?)`,
	stmtRecordCreate: `INSERT INTO call_records (` + callRecordColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	stmtRecordFinish: `UPDATE call_records SET answered_at = ?, ended_at = ?, disposition = ?, hangup_cause = ?,
		hangup_by = ?, caller_quality = ?, callee_quality = ?, from_name = ?, trunk_id = ?, outbound_trunk_id = ?, attempts = ?,
		caller_id_presented = ?, plan_path = ? WHERE id = ?`,
}

type writeStmts struct {
	s  [nStmts]*sqlx.Stmt
	ok bool
}

func (w *writeStmts) prepare(db *sqlx.DB) error {
	if w.ok {
		return nil
	}
	for i := range w.s {
		s, err := db.Preparex(stmtSQL[i])
		if err != nil {
			w.reset()
			return err
		}
		w.s[i] = s
	}
	w.ok = true
	return nil
}

// reset closes the statements; the next batch prepares them again.
func (w *writeStmts) reset() {
	for i, s := range w.s {
		if s != nil {
			_ = s.Close()
			w.s[i] = nil
		}
	}
	w.ok = false
}

// txWriter runs the queue's statements in a transaction: the prepared ones
// when there are, else the same SQL prepared on the spot.
type txWriter struct {
	ctx   context.Context
	tx    *sqlx.Tx
	st    *writeStmts
	bound [nStmts]*sqlx.Stmt
	// delivered is set when a webhook delivery was queued (the
	// dispatcher is woken once the transaction commits).
	delivered *atomic.Bool
	// firstSeq is the sequence of the first event written, or 0.
	firstSeq int64
}

func (w *txWriter) stmt(id stmtID) *sqlx.Stmt {
	if w.st == nil || w.st.s[id] == nil {
		return nil
	}
	if w.bound[id] == nil {
		// The statement was prepared on the transaction's connection, so
		// database/sql reuses it rather than preparing it again.
		w.bound[id] = w.tx.StmtxContext(w.ctx, w.st.s[id])
	}
	return w.bound[id]
}

func (w *txWriter) exec(id stmtID, args ...any) (sql.Result, error) {
	if s := w.stmt(id); s != nil {
		return s.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, stmtSQL[id], args...)
}

type hook struct {
	id    core.WebhookID
	types []string
}

type cachedHooks struct {
	gen   uint64
	hooks []hook
}

// hooksChanged is called after every write to webhooks: the next batch of
// events reads them again.
func (q *writeQueue) hooksChanged() { q.hooksGen.Add(1) }

// cachedHooks returns the enabled webhooks, from the cache while no webhook
// changed since they were read.
func (w *txWriter) cachedHooks(q *writeQueue) ([]hook, error) {
	g := q.hooksGen.Load()
	if c := q.hooks.Load(); c != nil && c.gen == g {
		return c.hooks, nil
	}
	hooks, err := w.enabledHooks()
	if err != nil {
		return nil, err
	}
	q.hooks.Store(&cachedHooks{gen: g, hooks: hooks})
	return hooks, nil
}

// enabledHooks lists the enabled webhooks with the event types each takes.
func (w *txWriter) enabledHooks() ([]hook, error) {
	var rows []struct {
		ID    string `db:"id"`
		Types string `db:"event_types"`
	}
	var err error
	if s := w.stmt(stmtHooks); s != nil {
		err = s.SelectContext(w.ctx, &rows)
	} else {
		err = w.tx.SelectContext(w.ctx, &rows, stmtSQL[stmtHooks])
	}
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	hooks := make([]hook, len(rows))
	for i, r := range rows {
		hooks[i] = hook{core.WebhookID(r.ID), splitTypes(r.Types)}
	}
	return hooks, nil
}

func (w *txWriter) apply(r *writeReq, hooks []hook) error {
	switch r.kind {
	case writeEvents:
		return w.insertEvents(hooks, r.events)
	case writeRecordCreate:
		if _, err := w.exec(stmtRecordCreate, r.rec.createArgs()...); err != nil {
			return fmt.Errorf("create call record %s: %w", r.rec.ID, err)
		}
	case writeRecordFinish:
		res, err := w.exec(stmtRecordFinish, r.rec.finishArgs()...)
		if err != nil {
			return fmt.Errorf("finish call record %s: %w", r.rec.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("call record %s: %w", r.rec.ID, core.ErrNotFound)
		}
	}
	return nil
}
