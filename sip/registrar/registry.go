// Package registrar keeps SIP location bindings (RFC 3261 §10): which contacts
// each extension registered, from which source address and transport.
package registrar

import (
	"sort"
	"sync"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

// Binding is one registered contact of an extension.
type Binding struct {
	ExtensionID  core.ExtensionID
	Username     string
	Contact      string // the Contact URI as registered
	Source       string // ip:port the REGISTER came from; requests go here (NAT)
	Transport    string // UDP or TCP
	UserAgent    string
	CallID       string
	CSeq         uint32
	RegisteredAt time.Time
	ExpiresAt    time.Time
}

// Registry holds bindings in memory; after Restore it also keeps them in a
// store (see persist.go), so they survive a restart.
type Registry struct {
	maxPerExtension int
	now             func() time.Time

	mu    sync.RWMutex
	byExt map[core.ExtensionID][]Binding
	w     *writer // nil: memory only

	onChange func(ext core.ExtensionID, added, removed []Binding)
}

// NewRegistry keeps at most maxPerExtension contacts per extension (the oldest
// is evicted); now may be nil for the wall clock.
func NewRegistry(maxPerExtension int, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{maxPerExtension: maxPerExtension, now: now, byExt: map[core.ExtensionID][]Binding{}}
}

// OnChange registers a function called after bindings are added or removed.
func (r *Registry) OnChange(f func(ext core.ExtensionID, added, removed []Binding)) { r.onChange = f }

// Upsert adds or refreshes b, keyed by its contact URI. A binding with the same
// Call-ID and a CSeq not higher than the stored one is a stale retransmission
// and is ignored (RFC 3261 §10.3 step 7). A new or changed binding is written
// to the store before Upsert returns; a plain refresh is written later.
func (r *Registry) Upsert(b Binding) {
	p, _ := r.upsert(b, false)
	p.wait()
}

// pending is a store write that a change of bindings must wait for before
// it is reported done (see persist.go); the zero pending waits for nothing.
type pending struct {
	w *writer
	f *flush
}

// wait blocks until the write is committed, or its wait bound passes.
func (p pending) wait() {
	if p.f != nil {
		p.w.wait(p.f)
	}
}

// upsert stores b and returns the write to wait for. With onlyRefresh it
// stores b only when it refreshes a live binding that reaches the phone the
// same way (see changed) while none of the extension's bindings expired,
// which writes nothing that must be waited for and reports nothing;
// otherwise it changes nothing and returns false.
func (r *Registry) upsert(b Binding, onlyRefresh bool) (pending, bool) {
	var added, removed []Binding
	var wait *flush
	r.mu.Lock()
	list, expired := r.live(b.ExtensionID)
	if onlyRefresh && expired != nil {
		r.mu.Unlock() // dropping them is a change to report
		return pending{}, false
	}
	found, write, urgent := false, false, false
	for i := range list {
		if list[i].Contact != b.Contact {
			continue
		}
		found = true
		if onlyRefresh && changed(list[i], b) {
			r.mu.Unlock()
			return pending{}, false
		}
		if list[i].CallID == b.CallID && b.CSeq <= list[i].CSeq {
			if onlyRefresh && b.CSeq < list[i].CSeq {
				r.mu.Unlock() // out of order: the request fails (see Registrar.stale)
				return pending{}, false
			}
			break // a copy of the request that made it: nothing to change
		}
		b.RegisteredAt = list[i].RegisteredAt
		write, urgent = true, changed(list[i], b)
		list[i] = b
	}
	if !found {
		if onlyRefresh {
			r.mu.Unlock()
			return pending{}, false
		}
		b.RegisteredAt = r.now()
		list = append(list, b)
		added = append(added, b)
		write, urgent = true, true
		sort.SliceStable(list, func(i, j int) bool { return list[i].RegisteredAt.Before(list[j].RegisteredAt) })
		for len(list) > r.maxPerExtension {
			removed = append(removed, list[0])
			list = list[1:]
		}
	}
	r.byExt[b.ExtensionID] = list
	r.forget(expired, false)
	if r.w != nil {
		if write {
			if f := r.w.enqueue(b, false, urgent); urgent {
				wait = f
			}
		}
		for _, gone := range removed {
			wait = r.w.enqueue(gone, true, true)
		}
	}
	w := r.w
	r.mu.Unlock()
	r.notify(b.ExtensionID, added, append(expired, removed...))
	return pending{w: w, f: wait}, true
}

// changed reports whether b reaches the phone differently from old: another
// source address or transport. Those are what a call to the phone needs after
// a restart, so they are written before the REGISTER is answered. A new
// Call-ID (a phone that restarted, RFC 3261 §10.2.4), user agent or user name
// on the same contact and source is written with the next periodic flush like
// an expiry: lost in a crash, it costs nothing, since the next REGISTER with
// another Call-ID is taken whatever CSeq the stored one had.
func changed(old, b Binding) bool {
	return old.Source != b.Source || old.Transport != b.Transport
}

// Remove deletes the binding of ext with the given contact URI.
func (r *Registry) Remove(ext core.ExtensionID, contact string) {
	r.remove(ext, contact, order{}).wait()
}

// order is the Call-ID and CSeq of the REGISTER that removes bindings. A
// binding that a REGISTER of the same Call-ID made is removed only by a
// later one, with a higher CSeq (RFC 3261 §10.3 steps 6 and 7): a removal
// that arrives after the refresh that followed it changes nothing. The zero
// order, from no REGISTER, removes whatever it names.
type order struct {
	callID string
	cseq   uint32
}

// after reports whether o came after the REGISTER that made b.
func (o order) after(b Binding) bool {
	return o == order{} || o.callID != b.CallID || o.cseq > b.CSeq
}

// allContacts names every contact of an extension to remove, as the
// wildcard Contact does in a REGISTER (RFC 3261 §10.2.2); no contact URI
// is spelled so.
const allContacts = "*"

// remove deletes the binding of ext with the given contact URI (every one
// with allContacts) when o came after the REGISTER that made it, and the
// expired ones.
func (r *Registry) remove(ext core.ExtensionID, contact string, o order) pending {
	var removed []Binding
	r.mu.Lock()
	list, expired := r.live(ext)
	kept := list[:0]
	for _, b := range list {
		if (contact == allContacts || b.Contact == contact) && o.after(b) {
			removed = append(removed, b)
		} else {
			kept = append(kept, b)
		}
	}
	r.set(ext, kept)
	r.forget(expired, false)
	wait, w := r.forget(removed, true), r.w
	r.mu.Unlock()
	r.notify(ext, nil, append(expired, removed...))
	return pending{w: w, f: wait}
}

// RemoveAll deletes every binding of ext.
func (r *Registry) RemoveAll(ext core.ExtensionID) { r.remove(ext, allContacts, order{}).wait() }

// forget queues the deletion of bindings from the store and returns the
// flush to wait for (nil when nothing is stored); the caller holds mu.
func (r *Registry) forget(gone []Binding, urgent bool) *flush {
	var f *flush
	if r.w == nil {
		return nil
	}
	for _, b := range gone {
		f = r.w.enqueue(b, true, urgent)
	}
	return f
}

// Lookup returns the live bindings of ext, oldest first.
func (r *Registry) Lookup(ext core.ExtensionID) []Binding {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Binding
	for _, b := range r.byExt[ext] {
		if now.Before(b.ExpiresAt) {
			out = append(out, b)
		}
	}
	return out
}

// All returns every live binding, by extension then age.
func (r *Registry) All() []Binding {
	now := r.now()
	r.mu.RLock()
	var out []Binding
	for _, list := range r.byExt {
		for _, b := range list {
			if now.Before(b.ExpiresAt) {
				out = append(out, b)
			}
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Username != out[j].Username {
			return out[i].Username < out[j].Username
		}
		return out[i].RegisteredAt.Before(out[j].RegisteredAt)
	})
	return out
}

// Sweep drops expired bindings.
func (r *Registry) Sweep() {
	expired := map[core.ExtensionID][]Binding{}
	r.mu.Lock()
	for ext := range r.byExt {
		if kept, gone := r.live(ext); gone != nil {
			r.set(ext, kept)
			expired[ext] = gone
		}
	}
	for _, gone := range expired {
		r.forget(gone, false) // expired rows are never loaded again: no hurry
	}
	r.mu.Unlock()
	for ext, gone := range expired {
		r.notify(ext, nil, gone)
	}
}

// live returns ext's bindings that have not expired, and those that have;
// the caller holds mu. Storing the live ones drops the expired ones, which
// the caller then forgets and reports as removed, as Sweep would have. When
// none expired the live ones are the stored list itself, which the caller
// may change only to store it back.
func (r *Registry) live(ext core.ExtensionID) (kept, expired []Binding) {
	now := r.now()
	list := r.byExt[ext]
	for i, b := range list {
		if now.Before(b.ExpiresAt) {
			continue
		}
		kept = make([]Binding, i, len(list))
		copy(kept, list[:i])
		expired = append(expired, b)
		for _, b := range list[i+1:] {
			if now.Before(b.ExpiresAt) {
				kept = append(kept, b)
			} else {
				expired = append(expired, b)
			}
		}
		return kept, expired
	}
	return list, nil
}

func (r *Registry) set(ext core.ExtensionID, list []Binding) {
	if len(list) == 0 {
		delete(r.byExt, ext)
		return
	}
	r.byExt[ext] = list
}

func (r *Registry) notify(ext core.ExtensionID, added, removed []Binding) {
	if r.onChange != nil && (len(added) > 0 || len(removed) > 0) {
		r.onChange(ext, added, removed)
	}
}
