package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// GuardConfig sets how many failures from one address within a window lead
// to a ban, and for how long.
type GuardConfig struct {
	MaxFailures int
	Window      time.Duration
	BanFor      time.Duration
}

// DefaultGuardConfig bans an address failing 10 times in 60 s for 15 minutes.
func DefaultGuardConfig() GuardConfig {
	return GuardConfig{MaxFailures: 10, Window: time.Minute, BanFor: 15 * time.Minute}
}

// Ban is an address refused for a while.
type Ban struct {
	IP       netip.Addr
	Since    time.Time
	Until    time.Time
	Failures int
	Reason   string // BanAuthFailures or BanFlood
}

// Ban reasons.
const (
	BanAuthFailures = "auth_failures"
	BanFlood        = "flood"
)

// Guard counts authentication failures per source address and bans addresses
// that fail too often.
type Guard struct {
	cfg GuardConfig
	now func() time.Time

	mu       sync.Mutex
	failures map[netip.Addr][]time.Time
	bans     map[netip.Addr]Ban
	onBan    func(Ban)
	// allowed holds networks that are never banned, by origin (such as
	// "trunks" and "api"), so each origin replaces only its own list.
	allowed map[string][]netip.Prefix
	// store keeps bans across restarts once Restore has run (nil before).
	store  *banWriter
	counts guardCounters // for Stats (guardstats.go)
}

// NewGuard returns a guard; now may be nil for the wall clock.
func NewGuard(cfg GuardConfig, now func() time.Time) *Guard {
	if now == nil {
		now = time.Now
	}
	return &Guard{cfg: cfg, now: now, failures: map[netip.Addr][]time.Time{}, bans: map[netip.Addr]Ban{},
		allowed: map[string][]netip.Prefix{}}
}

// OnBan registers a function called (outside the guard's lock) for each new ban.
func (g *Guard) OnBan(f func(Ban)) { g.onBan = f }

// Banned reports whether ip is banned now.
func (g *Guard) Banned(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bannedLocked(ip)
}

// Standing reports whether ip is banned now and whether it is in a network
// that is never banned, under one lock: the SIP front asks both per packet.
func (g *Guard) Standing(ip netip.Addr) (banned, allowed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bannedLocked(ip), g.allowedLocked(ip)
}

func (g *Guard) bannedLocked(ip netip.Addr) bool {
	b, ok := g.bans[ip]
	if !ok {
		return false
	}
	if g.now().After(b.Until) {
		delete(g.bans, ip)
		return false
	}
	return true
}

// SetAllowed replaces the networks of one origin that are never banned.
func (g *Guard) SetAllowed(origin string, nets []netip.Prefix) {
	g.mu.Lock()
	g.allowed[origin] = nets
	for ip := range g.bans {
		if g.allowedLocked(ip) {
			delete(g.bans, ip)
			g.persistLocked(ip, nil)
		}
	}
	g.mu.Unlock()
}

// Allowed reports whether ip is in a network that is never banned.
func (g *Guard) Allowed(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowedLocked(ip)
}

func (g *Guard) allowedLocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, nets := range g.allowed {
		for _, p := range nets {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// BanNow bans ip at once for reason (unless it is allowed or already banned)
// and reports whether a new ban was made.
func (g *Guard) BanNow(ip netip.Addr, reason string) bool {
	now := g.now()
	g.mu.Lock()
	if g.allowedLocked(ip) {
		g.mu.Unlock()
		return false
	}
	if b, ok := g.bans[ip]; ok && !now.After(b.Until) {
		g.mu.Unlock()
		return false
	}
	b := Ban{IP: ip, Since: now, Until: now.Add(g.cfg.BanFor), Reason: reason}
	g.bans[ip] = b
	g.counts.banned(reason)
	g.persistLocked(ip, &b)
	g.mu.Unlock()
	if g.onBan != nil {
		g.onBan(b)
	}
	return true
}

// Fail records one failure from ip and reports whether it caused a ban.
// Failures from allowed networks are not counted.
func (g *Guard) Fail(ip netip.Addr) bool {
	g.counts.failures.Add(1)
	now := g.now()
	g.mu.Lock()
	if g.allowedLocked(ip) {
		g.mu.Unlock()
		return false
	}
	recent := g.failures[ip][:0]
	for _, t := range g.failures[ip] {
		if now.Sub(t) < g.cfg.Window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	g.failures[ip] = recent
	if len(recent) < g.cfg.MaxFailures {
		g.mu.Unlock()
		return false
	}
	delete(g.failures, ip)
	b := Ban{IP: ip, Since: now, Until: now.Add(g.cfg.BanFor), Failures: len(recent), Reason: BanAuthFailures}
	g.bans[ip] = b
	g.counts.banned(BanAuthFailures)
	g.persistLocked(ip, &b)
	g.sweepLocked(now)
	g.mu.Unlock()
	if g.onBan != nil {
		g.onBan(b)
	}
	return true
}

// Succeed forgets the failures of ip after a successful authentication.
func (g *Guard) Succeed(ip netip.Addr) {
	g.mu.Lock()
	delete(g.failures, ip)
	g.mu.Unlock()
}

// Bans lists current bans, oldest first.
func (g *Guard) Bans() []Ban {
	now := g.now()
	g.mu.Lock()
	g.sweepLocked(now)
	out := make([]Ban, 0, len(g.bans))
	for _, b := range g.bans {
		out = append(out, b)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Unban lifts the ban on ip; it reports whether there was one. The store
// forgets it too (Flush waits for that).
func (g *Guard) Unban(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.bans[ip]
	delete(g.bans, ip)
	delete(g.failures, ip)
	if ok {
		g.persistLocked(ip, nil)
	}
	return ok
}

func (g *Guard) sweepLocked(now time.Time) {
	for ip, b := range g.bans {
		if now.After(b.Until) {
			delete(g.bans, ip)
		}
	}
	for ip, ts := range g.failures {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > g.cfg.Window {
			delete(g.failures, ip)
		}
	}
}

// Bans survive a restart: after Restore every new or lifted ban is handed
// to a writer goroutine that commits it at once, keeping the last change per
// address, so the SIP handler that bans never waits for the disk and a burst
// of bans shares one transaction. Expired bans are simply not loaded again.

// banWriter writes ban changes to the store in the order they were made.
type banWriter struct {
	repo core.BanRepo
	log  *slog.Logger
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	pending map[netip.Addr]*Ban // nil: lifted
	next    *banFlush
}

type banFlush struct {
	done chan struct{}
	err  error
}

// persistLocked queues the new state of ip's ban (nil: lifted); g.mu is held,
// so changes reach the writer in the order they were made.
func (g *Guard) persistLocked(ip netip.Addr, b *Ban) {
	if g.store == nil {
		return
	}
	w := g.store
	w.mu.Lock()
	w.pending[ip] = b
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Restore loads the bans still in force from repo, without OnBan
// notifications (bans in allowed networks are lifted), and from then on
// writes every new or lifted ban to repo. Call it once, before serving;
// Close stops the writer.
func (g *Guard) Restore(ctx context.Context, repo core.BanRepo, log *slog.Logger) (int, error) {
	now := g.now()
	list, err := repo.LoadBans(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("restore bans: %w", err)
	}
	w := &banWriter{repo: repo, log: log, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		pending: map[netip.Addr]*Ban{}, next: &banFlush{done: make(chan struct{})}}
	n := 0
	g.mu.Lock()
	g.store = w
	for _, cb := range list {
		ip := cb.IP.Unmap()
		if !now.Before(cb.Until) {
			continue
		}
		if g.allowedLocked(ip) {
			g.persistLocked(ip, nil)
			continue
		}
		g.bans[ip] = Ban{IP: ip, Since: cb.Since, Until: cb.Until, Failures: cb.Failures, Reason: cb.Reason}
		n++
	}
	g.mu.Unlock()
	go w.run()
	return n, nil
}

// Flush waits until every ban change made so far is committed.
func (g *Guard) Flush(ctx context.Context) error {
	g.mu.Lock()
	w := g.store
	g.mu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	f := w.next
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-f.done:
		return f.err
	case <-w.done:
		return errors.New("ban store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes pending ban changes and stops the writer, waiting at most
// until ctx ends.
func (g *Guard) Close(ctx context.Context) {
	g.mu.Lock()
	w := g.store
	g.store = nil
	g.mu.Unlock()
	if w == nil {
		return
	}
	close(w.quit)
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

func (w *banWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
			w.write()
		case <-w.quit:
			w.write()
			return
		}
	}
}

// write commits what is pending in one transaction; a failed batch is put
// back (unless newer changes arrived) and tried with the next change.
func (w *banWriter) write() {
	w.mu.Lock()
	batch, f := w.pending, w.next
	w.pending, w.next = map[netip.Addr]*Ban{}, &banFlush{done: make(chan struct{})}
	w.mu.Unlock()
	var bans []core.Ban
	var lifted []netip.Addr
	for ip, b := range batch {
		if b == nil {
			lifted = append(lifted, ip)
			continue
		}
		bans = append(bans, core.Ban{IP: ip, Since: b.Since, Until: b.Until, Failures: b.Failures, Reason: b.Reason})
	}
	if len(batch) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		f.err = w.repo.SaveBans(ctx, bans, lifted)
		cancel()
	}
	if f.err != nil {
		w.log.Error("write bans", "bans", len(bans), "lifted", len(lifted), "error", f.err)
		w.mu.Lock()
		for ip, b := range batch {
			if _, newer := w.pending[ip]; !newer {
				w.pending[ip] = b
			}
		}
		w.mu.Unlock()
	}
	close(f.done)
}
