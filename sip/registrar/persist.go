package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// Bindings survive a restart: the registry writes them to a
// core.RegistrationRepo and reloads them at start, so a phone registered
// before a crash is reachable at once, without registering again.
//
// A REGISTER must not cost a synchronous database transaction on every
// refresh: a few thousand phones refreshing every minute or so would spend
// the write connection on fsyncs that change nothing but an expiry. So the
// registry hands every change to one background writer, which keeps the
// last state of each binding (changes are keyed by extension and contact)
// and writes a batch in one transaction:
//
//   - a new binding, one that moved (source address, transport) or a removed
//     one is urgent: the writer commits at once and the REGISTER waits,
//     bounded, for that commit before it is answered, so a 200 OK for a new
//     binding means it is on disk. The writer lingers a moment (Linger, 2 ms)
//     before an urgent commit, and REGISTERs that arrive meanwhile or while
//     a commit runs share it (group commit): when many phones register at
//     once, as after an outage, the cost of a commit is spread over many;
//   - a refresh that only moves the expiry, the CSeq, the Call-ID or the user
//     agent waits for the next periodic flush (FlushEvery, 5 s by default)
//     and is coalesced with every other refresh of that period. A crash loses at most that much of an
//     expiry, far less than the interval phones refresh at; stored expiries
//     can only be early, never late, so no dead binding is revived.
//
// Expired bindings swept from memory are deleted lazily the same way; rows
// expired by a crash are dropped when the registry is loaded. Close writes
// whatever is pending.

// PersistConfig sets how bindings are written.
type PersistConfig struct {
	FlushEvery time.Duration // periodic flush of refreshes; 5 s when zero
	WaitFor    time.Duration // longest a REGISTER waits for an urgent write; 5 s when zero
	Linger     time.Duration // wait for more before an urgent write; 2 ms when zero, none when negative
}

type pendingOp struct {
	reg    core.Registration
	remove bool
}

// flush is one batch write; done is closed when it is committed (or failed).
type flush struct {
	done chan struct{}
	err  error
}

type writer struct {
	repo core.RegistrationRepo
	log  *slog.Logger
	cfg  PersistConfig
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	pending map[core.RegistrationKey]pendingOp
	next    *flush // the flush that will write what is pending
}

func newWriter(repo core.RegistrationRepo, cfg PersistConfig, log *slog.Logger) *writer {
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 5 * time.Second
	}
	if cfg.WaitFor <= 0 {
		cfg.WaitFor = 5 * time.Second
	}
	if cfg.Linger == 0 {
		cfg.Linger = 2 * time.Millisecond
	}
	return &writer{repo: repo, log: log, cfg: cfg, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		done: make(chan struct{}), pending: map[core.RegistrationKey]pendingOp{}, next: &flush{done: make(chan struct{})}}
}

// enqueue records the latest state of one binding and returns the flush that
// will write it; urgent wakes the writer at once.
func (w *writer) enqueue(b Binding, remove, urgent bool) *flush {
	k := core.RegistrationKey{ExtensionID: b.ExtensionID, Contact: b.Contact}
	w.mu.Lock()
	w.pending[k] = pendingOp{reg: b.registration(), remove: remove}
	f := w.next
	w.mu.Unlock()
	if urgent {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return f
}

// wait blocks until f is committed or the wait bound passes.
func (w *writer) wait(f *flush) {
	t := time.NewTimer(w.cfg.WaitFor)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
		w.log.Warn("registration not yet written", "waited", w.cfg.WaitFor)
	}
}

func (w *writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.wake:
			if w.cfg.Linger > 0 {
				time.Sleep(w.cfg.Linger)
				select { // this write takes what woke it meanwhile
				case <-w.wake:
				default:
				}
			}
		case <-t.C:
		case <-w.quit:
			w.write()
			return
		}
		w.write()
	}
}

// write commits everything pending in one transaction. A failed batch is
// put back, unless newer changes of the same bindings arrived meanwhile, and
// tried again at the next flush.
func (w *writer) write() {
	w.mu.Lock()
	batch, f := w.pending, w.next
	w.pending, w.next = map[core.RegistrationKey]pendingOp{}, &flush{done: make(chan struct{})}
	w.mu.Unlock()
	if len(batch) == 0 {
		close(f.done)
		return
	}
	var upserts []core.Registration
	var removals []core.RegistrationKey
	for k, op := range batch {
		if op.remove {
			removals = append(removals, k)
		} else {
			upserts = append(upserts, op.reg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := w.repo.SaveRegistrations(ctx, upserts, removals)
	cancel()
	if err != nil {
		w.log.Error("write registrations", "bindings", len(batch), "error", err)
		w.mu.Lock()
		for k, op := range batch {
			if _, newer := w.pending[k]; !newer {
				w.pending[k] = op
			}
		}
		w.mu.Unlock()
	}
	f.err = err
	close(f.done)
}

func (b Binding) registration() core.Registration {
	return core.Registration{ExtensionID: b.ExtensionID, Username: b.Username, Contact: b.Contact, Source: b.Source,
		Transport: b.Transport, UserAgent: b.UserAgent, CallID: b.CallID, CSeq: b.CSeq,
		RegisteredAt: b.RegisteredAt, ExpiresAt: b.ExpiresAt}
}

func bindingOf(r core.Registration) Binding {
	return Binding{ExtensionID: r.ExtensionID, Username: r.Username, Contact: r.Contact, Source: r.Source,
		Transport: r.Transport, UserAgent: r.UserAgent, CallID: r.CallID, CSeq: r.CSeq,
		RegisteredAt: r.RegisteredAt, ExpiresAt: r.ExpiresAt}
}

// Restore loads the bindings stored in repo (the store drops expired ones),
// without change notifications, and from then on writes every change to
// repo. Call it once, before serving; Close stops the writer.
func (r *Registry) Restore(ctx context.Context, repo core.RegistrationRepo, cfg PersistConfig, log *slog.Logger) (int, error) {
	regs, err := repo.LoadRegistrations(ctx, r.now())
	if err != nil {
		return 0, fmt.Errorf("restore registrations: %w", err)
	}
	w := newWriter(repo, cfg, log)
	now := r.now()
	n := 0
	r.mu.Lock()
	for _, reg := range regs {
		b := bindingOf(reg)
		if !now.Before(b.ExpiresAt) {
			continue
		}
		r.byExt[b.ExtensionID] = append(r.byExt[b.ExtensionID], b)
		n++
	}
	for ext, list := range r.byExt {
		sort.SliceStable(list, func(i, j int) bool { return list[i].RegisteredAt.Before(list[j].RegisteredAt) })
		for len(list) > r.maxPerExtension {
			w.enqueue(list[0], true, false)
			list = list[1:]
			n--
		}
		r.byExt[ext] = list
	}
	r.w = w
	r.mu.Unlock()
	go w.run()
	return n, nil
}

// Close writes pending changes and stops the writer; later changes stay in
// memory only. It waits at most until ctx ends.
func (r *Registry) Close(ctx context.Context) {
	r.mu.Lock()
	w := r.w
	r.w = nil
	r.mu.Unlock()
	if w == nil {
		return
	}
	close(w.quit)
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}
